//! The checks behind the preprocessing form (`ui::sidecar_form`), as plain Rust tested natively: the
//! form's text fields ([`FormValues`]) become a [`Sidecar`], and [`check`] explains, live, what the
//! model will see: the formula `(x · scale − mean) / std` per channel with the typed values, the range
//! of the normalised input for pixel values x in 0..=255, the invalid entries (which block Apply) and
//! the warnings (which do not): a nearly constant input, or values far from every usual input range.
//!
//! Thresholds, for a channel whose normalised values span `[lo, hi]` (width `w = hi − lo`, magnitude
//! `m = max(|lo|, |hi|)`) when the pixel goes from 0 to 255:
//! - [`CONSTANT_WIDTH`] (w < 0.05): every usual convention gives a pixel's full swing a width of at
//!   least 1 (`[0, 1]`: 1, `[−1, 1]`: 2, ImageNet-standardised ≈ 4.4, raw pixels: 255); 20 times
//!   narrower than the narrowest of them, every image is close to a constant for the model (mean 127 /
//!   std 128 with scale 1/255 gives w = 0.0078: every photo gets the same class).
//! - [`HUGE_MAGNITUDE`] (m > 300): the largest usual inputs are raw pixels (0..255, or Caffe's
//!   mean-subtracted ≈ [−124, 152]); nothing usual goes beyond 300 (ImageNet mean/std typed in 0–1
//!   units with scale 1 gives values up to 1111).
//! - off-range (w < [`PIXEL_WIDTH`] and (m > [`NORMALISED_MAGNITUDE`] or the range lies entirely
//!   outside [−3, 3])): narrow like a normalised input, but away from 0, where no normalised
//!   convention lies (`[0, 1]`, `[−1, 1]`, ImageNet ≈ [−2.1, 2.6]); e.g. mean 127 with scale 1/255
//!   and std 1 gives [−127, −126].
use crate::sidecar::{ColorOrder, Layout, Resize, Sidecar};

/// A channel whose normalised range is narrower than this is (nearly) constant: see the module docs.
pub const CONSTANT_WIDTH: f64 = 0.05;
/// Normalised values beyond this magnitude match no usual input convention: see the module docs.
pub const HUGE_MAGNITUDE: f64 = 300.0;
/// Normalised inputs stay within this magnitude ([0, 1], [−1, 1], ImageNet ≈ [−2.1, 2.6], with margin).
pub const NORMALISED_MAGNITUDE: f64 = 10.0;
/// Ranges at least this wide are in raw pixel units (0–255 and its shifted forms), not normalised.
pub const PIXEL_WIDTH: f64 = 100.0;
/// A normalised range lying entirely beyond ±this is away from every usual normalised range.
const NORMALISED_EDGE: f64 = 3.0;
/// Mean or std values above this are in 0–255 pixel units (in 0–1 units they are at most 1).
const PIXEL_UNIT_VALUE: f64 = 2.0;

/// The text of every field of the form, as typed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormValues {
    pub width: String,
    pub height: String,
    pub channels: String,
    /// `rgb`, `bgr` or `gray`.
    pub color: String,
    /// `nchw` or `nhwc`.
    pub layout: String,
    pub scale: String,
    /// Per-channel values separated by commas, semicolons or spaces.
    pub mean: String,
    pub std: String,
    /// `stretch`, `shorter_side` or `none`.
    pub resize: String,
    pub shorter: String,
}

/// One channel of the preview.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelPreview {
    /// `R`, `G`, `B`, `gray`, or `channel k` when the colour order does not fit the channel count.
    pub name: String,
    /// `(x · 0.00392157 − 0.485) / 0.229`; a value that cannot be read shows as `?`.
    pub formula: String,
    /// The normalised values at the two ends of x in 0..=255 (min, max), when every value is valid.
    pub range: Option<(f64, f64)>,
}

/// What the form says about the typed values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Check {
    /// One entry per model channel (empty while the channel count is invalid).
    pub channels: Vec<ChannelPreview>,
    /// Invalid entries: Apply is disabled while there is any.
    pub errors: Vec<String>,
    /// The fields (`FormValues` names: `scale`, `mean`, ...) holding an invalid entry.
    pub invalid_fields: Vec<&'static str>,
    /// Suspicious but valid values: Apply stays allowed (the user may know better).
    pub warnings: Vec<Warning>,
}

/// A suspicious preprocessing: what is wrong, with the numbers, and how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    /// `Nearly constant input`, `Values far out of range` or `Values off the usual ranges`.
    pub title: &'static str,
    /// The affected channels, one range, and the threshold crossed.
    pub detail: String,
    /// The likely fix, with the numbers to type.
    pub fix: String,
}

/// The whole message: `title: detail fix`.
impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} {}", self.title, self.detail, self.fix)
    }
}

/// Formats `v` with at most `sig` significant digits (all the integer digits are kept), without
/// trailing zeros, with a true minus sign: `0.00392157`, `−0.9922`, `127`, `65025`.
pub fn num(v: f64, sig: i32) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    let decimals = (sig - 1 - mag).clamp(0, 12) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    if s.parse::<f64>() == Ok(0.0) {
        return "0".into();
    }
    s.replace('-', "−")
}

/// The scale as a person would say it: `1/255` when it is that, else the number.
fn scale_text(scale: f64) -> String {
    if (scale * 255.0 - 1.0).abs() < 1e-9 {
        "1/255".into()
    } else {
        num(scale, 6)
    }
}

/// Reads a number typed in the form: a decimal (`0.485`, `1e-3`, `−2` with a true minus sign) or a
/// fraction `a/b` (`1/255`). `None` unless finite.
pub fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim().replace('−', "-");
    let v = match s.split_once('/') {
        Some((a, b)) => a.trim().parse::<f64>().ok()? / b.trim().parse::<f64>().ok()?,
        None => s.parse::<f64>().ok()?,
    };
    v.is_finite().then_some(v)
}

fn tokens(s: &str) -> Vec<&str> {
    s.split([',', ' ', ';']).map(str::trim).filter(|t| !t.is_empty()).collect()
}

fn list_text(v: &[f64]) -> String {
    v.iter().map(|x| num(*x, 4)).collect::<Vec<_>>().join(", ")
}

fn join_names(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The channel names in model order, for a valid channel count and colour order.
fn channel_names(channels: usize, color: &str) -> Vec<String> {
    match (channels, color) {
        (3, "rgb") => ["R", "G", "B"].map(String::from).to_vec(),
        (3, "bgr") => ["B", "G", "R"].map(String::from).to_vec(),
        (1, "gray") => vec!["gray".into()],
        _ => (0..channels).map(|k| format!("channel {k}")).collect(),
    }
}

/// The value used to show a number in the form's fields: `1/255` for that scale, else Rust's
/// shortest round-trip text.
pub fn input_text(v: f64) -> String {
    if (v * 255.0 - 1.0).abs() < 1e-12 {
        "1/255".into()
    } else {
        v.to_string()
    }
}

impl FormValues {
    /// The fields prefilled from a sidecar (its defaults filled in).
    pub fn from_sidecar(sc: &Sidecar) -> FormValues {
        let i = &sc.input;
        let list = |v: &[f64]| v.iter().map(|x| input_text(*x)).collect::<Vec<_>>().join(", ");
        let (resize, shorter) = match i.resize {
            Resize::Stretch => ("stretch", 256),
            Resize::ShorterSide(n) => ("shorter_side", n),
            Resize::None => ("none", 256),
        };
        FormValues {
            width: i.width.to_string(),
            height: i.height.to_string(),
            channels: i.channels.to_string(),
            color: match sc.color() {
                ColorOrder::Rgb => "rgb",
                ColorOrder::Bgr => "bgr",
                ColorOrder::Gray => "gray",
            }
            .into(),
            layout: if i.layout == Layout::Nhwc { "nhwc" } else { "nchw" }.into(),
            scale: input_text(i.scale),
            mean: list(&sc.mean()),
            std: list(&sc.std()),
            resize: resize.into(),
            shorter: shorter.to_string(),
        }
    }

    /// The sidecar these fields describe: `base` with its input section replaced, then validated
    /// ([`Sidecar::validate`]); the error names the field and the value.
    pub fn to_sidecar(&self, base: &Sidecar) -> Result<Sidecar, String> {
        let int = |what: &str, s: &str| -> Result<usize, String> {
            s.trim().parse::<usize>().map_err(|_| format!("{what}: '{}' is not a whole number", s.trim()))
        };
        let list = |what: &str, s: &str| -> Result<Vec<f64>, String> {
            tokens(s)
                .into_iter()
                .map(|t| parse_number(t).ok_or_else(|| format!("{what}: '{t}' is not a number")))
                .collect()
        };
        let mut sc = base.clone();
        let i = &mut sc.input;
        i.width = int("width", &self.width)?;
        i.height = int("height", &self.height)?;
        i.channels = int("channels", &self.channels)?;
        i.color = Some(match self.color.as_str() {
            "bgr" => ColorOrder::Bgr,
            "gray" => ColorOrder::Gray,
            _ => ColorOrder::Rgb,
        });
        i.layout = if self.layout == "nhwc" { Layout::Nhwc } else { Layout::Nchw };
        i.scale = parse_number(&self.scale).ok_or_else(|| format!("scale: '{}' is not a number", self.scale.trim()))?;
        i.mean = Some(list("mean", &self.mean)?);
        let std = list("std", &self.std)?;
        if let Some((k, s)) = std.iter().enumerate().find(|(_, s)| **s < 0.0) {
            return Err(format!("std[{k}] is {}: a std must be positive", num(*s, 6)));
        }
        i.std = Some(std);
        i.resize = match self.resize.as_str() {
            "shorter_side" => Resize::ShorterSide(int("shorter side", &self.shorter)? as u32),
            "none" => Resize::None,
            _ => Resize::Stretch,
        };
        sc.validate().map_err(|e| e.to_string())?;
        Ok(sc)
    }
}

/// The formula of one channel: `(x · scale − mean) / std`, `?` for a value that cannot be read.
fn formula(scale: Option<f64>, mean: Option<f64>, std: Option<f64>) -> String {
    let scale = match scale {
        Some(s) if s < 0.0 => format!("({})", num(s, 6)),
        Some(s) => num(s, 6),
        None => "?".into(),
    };
    let mean = match mean {
        Some(m) if m < 0.0 => format!("+ {}", num(-m, 6)),
        Some(m) => format!("− {}", num(m, 6)),
        None => "− ?".into(),
    };
    let std = match std {
        Some(s) if s < 0.0 => format!("({})", num(s, 6)),
        Some(s) => num(s, 6),
        None => "?".into(),
    };
    format!("(x · {scale} {mean}) / {std}")
}

/// Checks the typed values: the preview of every channel, the invalid entries and the warnings.
/// Cross-field rules of the sidecar (colour order against the channel count, the shorter side against
/// the size) are checked by [`FormValues::to_sidecar`], which the form runs when this finds no error.
pub fn check(v: &FormValues) -> Check {
    let mut out = Check::default();
    let invalid = |out: &mut Check, field: &'static str, msg: String| {
        out.errors.push(msg);
        if !out.invalid_fields.contains(&field) {
            out.invalid_fields.push(field);
        }
    };
    for (field, what, text) in [("width", "Width", &v.width), ("height", "Height", &v.height)] {
        if !matches!(text.trim().parse::<usize>(), Ok(n) if n > 0) {
            invalid(&mut out, field, format!("{what} '{}' is not a whole number of pixels above 0.", text.trim()));
        }
    }
    if v.resize == "shorter_side" && !matches!(v.shorter.trim().parse::<usize>(), Ok(n) if n > 0) {
        invalid(&mut out, "shorter", format!("Shorter side '{}' is not a whole number above 0.", v.shorter.trim()));
    }
    let channels = match v.channels.trim().parse::<usize>() {
        Ok(c @ (1 | 3)) => Some(c),
        _ => {
            invalid(
                &mut out,
                "channels",
                format!("Channels must be 1 (gray) or 3 (colour), not '{}'.", v.channels.trim()),
            );
            None
        }
    };
    let scale = parse_number(&v.scale);
    match scale {
        None => invalid(
            &mut out,
            "scale",
            format!("Scale '{}' is not a number (write e.g. 1/255 or 0.00392157, or 1).", v.scale.trim()),
        ),
        Some(0.0) => invalid(
            &mut out,
            "scale",
            "Scale is 0: every pixel would become the same value; use 1/255 for x · scale in 0–1, or 1 for \
             0–255."
                .into(),
        ),
        Some(_) => {}
    }
    let Some(c) = channels else {
        // Without a channel count, mean and std cannot be paired with channels: still say which
        // entries are not numbers.
        for (field, text) in [("mean", &v.mean), ("std", &v.std)] {
            for t in tokens(text) {
                if parse_number(t).is_none() {
                    invalid(&mut out, field, format!("{} entry '{t}' is not a number.", capital(field)));
                }
            }
        }
        return out;
    };
    let names = channel_names(c, &v.color);
    let parse_list = |out: &mut Check, field: &'static str, text: &str| -> Vec<Option<f64>> {
        let toks = tokens(text);
        let vals: Vec<Option<f64>> = toks.iter().map(|t| parse_number(t)).collect();
        for (t, val) in toks.iter().zip(&vals) {
            if val.is_none() {
                invalid(out, field, format!("{} entry '{t}' is not a number.", capital(field)));
            }
        }
        if toks.len() != c {
            invalid(
                out,
                field,
                format!(
                    "{} has {} value{} but the input has {c} channel{} ({}): give one value per channel, in this \
                     order.",
                    capital(field),
                    toks.len(),
                    if toks.len() == 1 { "" } else { "s" },
                    if c == 1 { "" } else { "s" },
                    names.join(", ")
                ),
            );
        }
        vals
    };
    let means = parse_list(&mut out, "mean", &v.mean);
    let stds = parse_list(&mut out, "std", &v.std);
    for (k, s) in stds.iter().enumerate().take(c) {
        let name = &names[k];
        match s {
            Some(s) if *s == 0.0 => invalid(
                &mut out,
                "std",
                format!(
                    "Std of {name} is 0: division by zero. A std must be positive (1 leaves the values as they are)."
                ),
            ),
            Some(s) if *s < 0.0 => invalid(
                &mut out,
                "std",
                format!(
                    "Std of {name} is {}: a std must be positive (a negative one flips the image's contrast).",
                    num(*s, 6)
                ),
            ),
            _ => {}
        }
    }
    let scale = scale.filter(|s| *s != 0.0);
    for (k, name) in names.iter().enumerate() {
        let (m, s) = (means.get(k).copied().flatten(), stds.get(k).copied().flatten());
        let range = match (scale, m, s) {
            (Some(a), Some(m), Some(s)) if s > 0.0 => {
                let (p, q) = ((0.0 * a - m) / s, (255.0 * a - m) / s);
                Some((p.min(q), p.max(q)))
            }
            _ => None,
        };
        out.channels.push(ChannelPreview { name: name.clone(), formula: formula(scale, m, s), range });
    }
    if out.errors.is_empty() {
        let scale = scale.unwrap_or(1.0);
        let means: Vec<f64> = means.iter().map(|m| m.unwrap_or(0.0)).collect();
        let stds: Vec<f64> = stds.iter().map(|s| s.unwrap_or(1.0)).collect();
        out.warnings = warnings(&out.channels, scale, &means, &stds);
    }
    out
}

fn capital(field: &str) -> String {
    let mut c = field.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// The usual input ranges, for the messages.
const USUAL: &str = "[0, 1], [−1, 1], ImageNet-standardised ≈ [−2.1, 2.6], or raw pixels 0–255";

/// A suggestion when mean/std and `x · scale` are in different units, if they are.
fn unit_fix(scale: f64, mean: &[f64], std: &[f64]) -> Option<String> {
    let big = |v: &[f64]| v.iter().any(|x| *x > PIXEL_UNIT_VALUE);
    let (big_mean, big_std) = (big(mean), big(std));
    let top = 255.0 * scale;
    let reach = format!("x · scale is in 0–{} (scale {})", num(top, 4), scale_text(scale));
    let div = |v: &[f64]| list_text(&v.iter().map(|x| x / 255.0).collect::<Vec<_>>());
    let mul = |v: &[f64]| list_text(&v.iter().map(|x| x * 255.0).collect::<Vec<_>>());
    if top.abs() <= 5.0 && (big_mean || big_std) {
        // x · scale in 0–1 (or a few units), mean/std in 0–255 pixel units
        return Some(match (big_mean, big_std) {
            (true, true) => format!(
                "Mean {} and std {} are in 0–255 pixel units, but {reach}: set scale to 1, or divide mean and \
                 std by 255 (mean {}; std {}).",
                list_text(mean),
                list_text(std),
                div(mean),
                div(std)
            ),
            (true, false) => format!(
                "Mean {} is in 0–255 pixel units, but {reach}: divide the mean by 255 (mean {}), or set scale to \
                 1 and std to 255.",
                list_text(mean),
                div(mean)
            ),
            _ => format!(
                "Std {} is in 0–255 pixel units, but {reach}: divide the std by 255 (std {}), or set scale to 1.",
                list_text(std),
                div(std)
            ),
        });
    }
    let small_std = std.iter().all(|s| *s <= 1.5) && std.iter().any(|s| *s < 1.0);
    let small_mean = mean.iter().all(|m| m.abs() <= 1.5);
    if top.abs() >= 100.0 && small_mean && (small_std || mean.iter().any(|m| *m != 0.0)) {
        // x · scale in 0–255, mean/std in 0–1 units (e.g. ImageNet's 0.485 / 0.229 with scale 1)
        return Some(format!(
            "Mean {} and std {} look like 0–1 units, but {reach}: set scale to 1/255, or multiply mean and std by \
             255 (mean {}; std {}).",
            list_text(mean),
            list_text(std),
            mul(mean),
            mul(std)
        ));
    }
    None
}

fn warnings(channels: &[ChannelPreview], scale: f64, mean: &[f64], std: &[f64]) -> Vec<Warning> {
    let mut constant = Vec::new();
    let mut huge = Vec::new();
    let mut off = Vec::new();
    for ch in channels {
        let Some((lo, hi)) = ch.range else { continue };
        let (w, m) = (hi - lo, lo.abs().max(hi.abs()));
        if w < CONSTANT_WIDTH {
            constant.push((ch, lo, hi, w));
        } else if m > HUGE_MAGNITUDE {
            huge.push((ch, lo, hi, w));
        } else if w < PIXEL_WIDTH && (m > NORMALISED_MAGNITUDE || lo > NORMALISED_EDGE || hi < -NORMALISED_EDGE) {
            off.push((ch, lo, hi, w));
        }
    }
    let fix = unit_fix(scale, mean, std);
    // "R, G and B" and the range of the first of them
    let who = |list: &[(&ChannelPreview, f64, f64, f64)]| {
        let names: Vec<String> = list.iter().map(|(c, ..)| c.name.clone()).collect();
        let (c, lo, hi, _) = list[0];
        (join_names(&names), names.len() == 1, format!("{} ∈ [{}, {}]", c.name, num(lo, 4), num(hi, 4)))
    };
    let mut out = Vec::new();
    if !constant.is_empty() {
        let (names, one, range) = who(&constant);
        let widths: Vec<String> = constant.iter().map(|(.., w)| num(*w, 2)).collect();
        let width = if widths.iter().all(|w| *w == widths[0]) { widths[0].clone() } else { widths.join(", ") };
        out.push(Warning {
            title: "Nearly constant input",
            detail: format!(
                "for pixels 0–255, {names} {} only {width} ({range}). Below {CONSTANT_WIDTH} (20 times narrower than \
                 [0, 1], the narrowest usual input) every photo looks almost the same to the model and gets nearly \
                 the same class.",
                if one { "spans" } else { "span" }
            ),
            fix: fix.clone().unwrap_or_else(|| {
                "Increase scale or reduce std: scale 1/255 with mean 0 and std 1 gives [0, 1].".into()
            }),
        });
    }
    if !huge.is_empty() {
        let (names, one, range) = who(&huge);
        out.push(Warning {
            title: "Values far out of range",
            detail: format!(
                "for pixels 0–255, {names} {} beyond ±{HUGE_MAGNITUDE} ({range}); no usual input does ({USUAL}).",
                if one { "goes" } else { "go" }
            ),
            fix: fix.clone().unwrap_or_else(|| {
                "Reduce scale or increase std: scale 1/255 with mean 0 and std 1 gives [0, 1]; scale 1 with std 1 \
                 keeps 0–255."
                    .into()
            }),
        });
    }
    if !off.is_empty() {
        let (names, one, range) = who(&off);
        out.push(Warning {
            title: "Values off the usual ranges",
            detail: format!(
                "for pixels 0–255, {names} {} a narrow range far from 0 ({range}: beyond ±{NORMALISED_MAGNITUDE}, \
                 or entirely beyond ±{NORMALISED_EDGE}), unlike every usual input ({USUAL}).",
                if one { "spans" } else { "span" }
            ),
            fix: fix.unwrap_or_else(|| {
                "Check the mean: it shifts every value (scale 1/255 with mean 0 and std 1 gives [0, 1]; ImageNet uses \
                 mean 0.485, 0.456, 0.406 and std 0.229, 0.224, 0.225)."
                    .into()
            }),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guessed() -> FormValues {
        FormValues::from_sidecar(&Sidecar::default_for_input_shape(&[1, 3, 160, 160]))
    }

    fn with(mean: &str, std: &str, scale: &str) -> FormValues {
        FormValues { mean: mean.into(), std: std.into(), scale: scale.into(), ..guessed() }
    }

    #[test]
    fn numbers_are_formatted_and_parsed() {
        assert_eq!(num(1.0 / 255.0, 6), "0.00392157");
        assert_eq!(num(-0.9921875, 4), "−0.9922");
        assert_eq!(num(127.0, 6), "127");
        assert_eq!(num(65025.0, 4), "65025");
        assert_eq!(num(-0.00001, 2), "−0.00001");
        assert_eq!(num(-0.000001, 4), "−0.000001");
        assert_eq!(num(-1e-14, 4), "0");
        assert_eq!(parse_number("1/255"), Some(1.0 / 255.0));
        assert_eq!(parse_number(" −0.5 "), Some(-0.5));
        assert_eq!(parse_number("1e-3"), Some(0.001));
        assert_eq!(parse_number("1/0"), None);
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("abc"), None);
        assert_eq!(input_text(1.0 / 255.0), "1/255");
        assert_eq!(input_text(0.485), "0.485");
    }

    #[test]
    fn guessed_values_show_the_formula_and_range_without_warning() {
        let c = check(&guessed());
        assert_eq!(c.errors, Vec::<String>::new());
        assert_eq!(c.warnings, Vec::<Warning>::new());
        assert_eq!(c.channels.len(), 3);
        assert_eq!(c.channels[0].name, "R");
        assert_eq!(c.channels[0].formula, "(x · 0.00392157 − 0) / 1");
        let (lo, hi) = c.channels[2].range.unwrap();
        assert!(lo.abs() < 1e-12 && (hi - 1.0).abs() < 1e-12);
        // The prefilled fields give back the guessed sidecar exactly.
        let base = Sidecar::default_for_input_shape(&[1, 3, 160, 160]);
        assert_eq!(guessed().to_sidecar(&base).unwrap(), base);
    }

    #[test]
    fn usual_conventions_give_no_warning() {
        for (mean, std, scale) in [
            ("0.485, 0.456, 0.406", "0.229, 0.224, 0.225", "1/255"), // ImageNet, ≈ [−2.1, 2.6]
            ("0.5 0.5 0.5", "0.5 0.5 0.5", "0.00392156862745098"),   // [−1, 1]
            ("127.5, 127.5, 127.5", "127.5, 127.5, 127.5", "1"),     // [−1, 1]
            ("127, 127, 127", "128, 128, 128", "1"),                 // Lite0: [−0.99, 1]
            ("0, 0, 0", "1, 1, 1", "1"),                             // raw pixels 0–255
            ("103.939, 116.779, 123.68", "1, 1, 1", "1"),            // Caffe, ≈ [−124, 151]
            ("0, 0, 0", "1, 1, 1", "1/255"),                         // [0, 1]
        ] {
            let c = check(&with(mean, std, scale));
            assert_eq!(c.errors, Vec::<String>::new(), "{mean} / {std} / {scale}");
            assert_eq!(c.warnings, Vec::<Warning>::new(), "{mean} / {std} / {scale}");
        }
    }

    #[test]
    fn pixel_unit_mean_std_with_scale_1_255_warns_constant() {
        // The reported trap: every input ≈ −0.99, "matchstick 3.3 %" for every photo.
        let c = check(&with("127,127,127", "128,128,128", "1/255"));
        assert!(c.errors.is_empty());
        assert_eq!(c.channels[0].formula, "(x · 0.00392157 − 127) / 128");
        let (lo, hi) = c.channels[0].range.unwrap();
        assert!((lo + 127.0 / 128.0).abs() < 1e-12 && (hi - (1.0 - 127.0) / 128.0).abs() < 1e-12);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        let w = &c.warnings[0].to_string();
        assert!(
            w.starts_with(
                "Nearly constant input: for pixels 0–255, R, G and B span only 0.0078 (R ∈ [−0.9922, −0.9844])"
            ),
            "{w}"
        );
        assert!(w.contains("R ∈ [−0.9922, −0.9844]"), "{w}");
        assert!(w.contains("Below 0.05"), "{w}");
        assert!(w.contains("Mean 127, 127, 127 and std 128, 128, 128 are in 0–255 pixel units"), "{w}");
        assert!(w.contains("x · scale is in 0–1 (scale 1/255): set scale to 1"), "{w}");
        assert!(w.contains("(mean 0.498, 0.498, 0.498; std 0.502, 0.502, 0.502)"), "{w}");
        // The fix: scale 1 gives Lite0's [−0.99, 1], no warning.
        assert!(check(&with("127,127,127", "128,128,128", "1")).warnings.is_empty());
    }

    #[test]
    fn other_unit_mixups_warn_with_a_fix() {
        // ImageNet mean/std in 0–1 units with scale 1: values up to 1111.
        let c = check(&with("0.485, 0.456, 0.406", "0.229, 0.224, 0.225", "1"));
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(
            c.warnings[0].to_string().starts_with(
                "Values far out of range: for pixels 0–255, R, G and B go beyond ±300 (R ∈ [−2.118, 1111])"
            ),
            "{}",
            c.warnings[0].to_string()
        );
        assert!(c.warnings[0]
            .to_string()
            .contains("set scale to 1/255, or multiply mean and std by 255 (mean 123.7, 116.3, 103.5"));
        // Only the mean in pixel units: [−127, −126].
        let c = check(&with("127 127 127", "1 1 1", "1/255"));
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(
            c.warnings[0].to_string().starts_with(
                "Values off the usual ranges: for pixels 0–255, R, G and B span a narrow range far from 0 \
                 (R ∈ [−127, −126]"
            ),
            "{}",
            c.warnings[0]
        );
        assert!(
            c.warnings[0].to_string().contains("divide the mean by 255 (mean 0.498, 0.498, 0.498)"),
            "{}",
            c.warnings[0].to_string()
        );
        // Scale 255: 0–65025, generic fix.
        let c = check(&with("0,0,0", "1,1,1", "255"));
        assert!(c.warnings[0].to_string().contains("Reduce scale or increase std"), "{:?}", c.warnings);
        // A shifted normalised range entirely above 3.
        let c = check(&with("-5,-5,-5", "1,1,1", "1/255"));
        assert!(
            c.warnings[0].to_string().contains("R ∈ [5, 6]") && c.warnings[0].to_string().contains("Check the mean"),
            "{:?}",
            c.warnings
        );
        // One odd channel only is named alone.
        let c = check(&with("0.485, 0.456, 0.406", "0.229, 0.224, 100", "1/255"));
        assert!(c.warnings[0].to_string().contains("0–255, B spans only 0.01 (B ∈"), "{:?}", c.warnings);
    }

    #[test]
    fn invalid_numbers_are_errors_naming_the_field() {
        let c = check(&with("0,0,0", "0,1,1", "1/255"));
        assert_eq!(
            c.errors,
            vec!["Std of R is 0: division by zero. A std must be positive (1 leaves the values as they are)."]
        );
        assert_eq!(c.invalid_fields, vec!["std"]);
        assert_eq!(c.channels[0].range, None);
        assert_eq!(c.channels[0].formula, "(x · 0.00392157 − 0) / 0");
        assert!(c.warnings.is_empty());
        let c = check(&with("0,0,0", "1,-0.5,1", "1/255"));
        assert!(c.errors[0].starts_with("Std of G is −0.5: a std must be positive"), "{:?}", c.errors);
        let c = check(&with("0,0", "1,1,1", "1/255"));
        assert_eq!(
            c.errors,
            vec![
                "Mean has 2 values but the input has 3 channels (R, G, B): give one value per channel, in this order."
            ]
        );
        assert_eq!(c.channels[2].formula, "(x · 0.00392157 − ?) / 1");
        let c = check(&with("0,x,0", "1,1,1", "abc"));
        assert_eq!(c.invalid_fields, vec!["scale", "mean"]);
        assert!(c.errors[0].starts_with("Scale 'abc' is not a number"));
        assert_eq!(c.errors[1], "Mean entry 'x' is not a number.");
        assert_eq!(c.channels[0].formula, "(x · ? − 0) / 1");
        let c = check(&with("0,0,0", "1,1,1", "0"));
        assert!(c.errors[0].starts_with("Scale is 0"));
        let c = check(&FormValues { channels: "2".into(), width: "0".into(), ..guessed() });
        assert_eq!(c.invalid_fields, vec!["width", "channels"]);
        assert!(c.channels.is_empty());
        // Gray: one channel.
        let c = check(&FormValues {
            channels: "1".into(),
            color: "gray".into(),
            mean: "0".into(),
            std: "1".into(),
            ..guessed()
        });
        assert!(c.errors.is_empty() && c.channels.len() == 1 && c.channels[0].name == "gray");
    }

    #[test]
    fn to_sidecar_validates_and_reads_fractions() {
        let base = Sidecar::default_for_input_shape(&[1, 3, 160, 160]);
        let sc = with("0.485, 0.456, 0.406", "0.229, 0.224, 0.225", "1/255").to_sidecar(&base).unwrap();
        assert_eq!(sc.input.scale, 1.0 / 255.0);
        assert_eq!(sc.input.mean, Some(vec![0.485, 0.456, 0.406]));
        assert!(with("0,0,0", "1,0,1", "1").to_sidecar(&base).unwrap_err().contains("std[1] is 0"));
        assert!(with("0,0,0", "1,-1,1", "1").to_sidecar(&base).unwrap_err().contains("std[1] is −1"));
        let gray3 = FormValues { color: "gray".into(), ..guessed() };
        assert!(gray3.to_sidecar(&base).unwrap_err().contains("does not match channels"));
        let short = FormValues { resize: "shorter_side".into(), shorter: "100".into(), ..guessed() };
        assert!(short.to_sidecar(&base).unwrap_err().contains("shorter_side = 100"));
    }
}
