//! What only the page's display holds: how the heatmaps are shown, and numbers formatted for
//! display. The page's state (sources, settings, keys, results) is plain Rust in
//! [`crate::app::page`].

/// How the heatmaps are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HeatView {
    /// The heatmap alone (white = 0), the image in its own tile beside it.
    #[default]
    Beside,
    /// The heatmap blended over the image (opacity 0 = the image, 1 = the heatmap).
    Overlay,
}

/// A number with about `digits` significant digits, in plain or scientific notation.
pub fn fmt_num(v: f64, digits: usize) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-3..6).contains(&mag) {
        format!("{:.*e}", digits.saturating_sub(1), v)
    } else {
        let decimals = (digits as i32 - 1 - mag).max(0) as usize;
        format!("{v:.decimals$}")
    }
}

/// Milliseconds, rounded for display.
pub fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() {
        "–".into()
    } else if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}
