//! Input relevance -> pictures: channel sums, robust colour scaling, colormaps, overlays and PNG.
//!
//! Typical use:
//! ```ignore
//! let (h, w, v) = channel_sum(&relevance, Layout::Nchw);
//! let clip = percentile_abs(&v, 99.5);
//! let heat = render(h, w, &v, Colormap::Bwr, ScaleMode::Signed, clip);
//! let png = encode_png(&overlay(&pre.display, &heat, 0.6))?;
//! ```
//! Nothing here panics or produces NaN colours: non-finite values, zero or non-finite clips and
//! mismatched sizes all have a defined, documented result.
use crate::error::{Error, Result};
use crate::sidecar::Layout;
use crate::tensor::Tensor;
use image::{ImageBuffer, PixelWithColorType, RgbImage, Rgba, RgbaImage};

/// A colour map for [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Colormap {
    /// Zennit's / matplotlib's `bwr`: blue (0, 0, 255) at -1, white at 0, red (255, 0, 0) at +1,
    /// linear in between; the usual map for signed relevance.
    #[default]
    Bwr,
    /// Black (0) -> red (1/3) -> yellow (2/3) -> white (1), linear in between (Zennit's `hot`);
    /// positive only: negative scaled values are shown as black.
    Heat,
}

/// How values are mapped to the colormap's domain, with `clip` = the value shown at full colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScaleMode {
    /// `t = v / clip` in [-1, 1] (symmetric around 0): positive red, negative blue for `Bwr`.
    #[default]
    Signed,
    /// `t = |v| / clip` in [0, 1]: magnitude only.
    Absolute,
    /// `t = max(v, 0) / clip` in [0, 1]: negative values shown as zero.
    Positive,
}

/// Sums a relevance (or any) tensor over its colour channels, giving an H x W map (row-major).
///
/// Shapes: rank 4 `[N, C, H, W]` (NCHW) or `[N, H, W, C]` (NHWC): only the first batch item
/// (`N = 0`) is used; rank 3 `[C, H, W]` / `[H, W, C]` likewise without the batch; rank 2 `[H, W]`
/// is returned as it is. Any other rank is returned flattened as a single row `(1, len)`. Sums are
/// accumulated in f64. Non-finite values propagate to their pixel (see [`render`]).
pub fn channel_sum(r: &Tensor, layout: Layout) -> (usize, usize, Vec<f32>) {
    let shape = r.shape();
    let (c, h, w) = match (shape.len(), layout) {
        (4, Layout::Nchw) => (shape[1], shape[2], shape[3]),
        (4, Layout::Nhwc) => (shape[3], shape[1], shape[2]),
        (3, Layout::Nchw) => (shape[0], shape[1], shape[2]),
        (3, Layout::Nhwc) => (shape[2], shape[0], shape[1]),
        (2, _) => (1, shape[0], shape[1]),
        _ => return (1, r.len(), r.iter().copied().collect()),
    };
    let n = c * h * w;
    // first batch item, in logical (C) order, whatever the memory layout
    let vals: Vec<f32> = r.iter().take(n).copied().collect();
    let mut acc = vec![0f64; h * w];
    match layout {
        Layout::Nchw => {
            for k in 0..c {
                for (i, a) in acc.iter_mut().enumerate() {
                    *a += vals[k * h * w + i] as f64;
                }
            }
        }
        Layout::Nhwc => {
            for (i, a) in acc.iter_mut().enumerate() {
                for k in 0..c {
                    *a += vals[i * c + k] as f64;
                }
            }
        }
    }
    (h, w, acc.into_iter().map(|v| v as f32).collect())
}

/// The `p`-th percentile (0..=100) of `|values|`, with numpy's default linear interpolation
/// (`numpy.percentile(np.abs(v), p)`), ignoring non-finite values. Returns 0 if no value is finite
/// (or the input is empty). `p` is clamped to [0, 100]; a NaN `p` means 100 (the maximum).
pub fn percentile_abs(values: &[f32], p: f64) -> f32 {
    let mut a: Vec<f32> = values.iter().filter(|v| v.is_finite()).map(|v| v.abs()).collect();
    if a.is_empty() {
        return 0.0;
    }
    let p = if p.is_nan() { 100.0 } else { p.clamp(0.0, 100.0) };
    let pos = p / 100.0 * (a.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = pos - lo as f64;
    // The lo-th smallest and the next one, in linear time: the next is the smallest of those after
    // it (a full sort of a 224 × 224 map took 4–5 ms of the page's thread at every heatmap).
    let (_, lo_value, above) = a.select_nth_unstable_by(lo, |x, y| x.total_cmp(y));
    let lo_value = *lo_value;
    let hi_value = above.iter().copied().min_by(|x, y| x.total_cmp(y)).unwrap_or(lo_value);
    (lo_value as f64 + (hi_value as f64 - lo_value as f64) * frac) as f32
}

fn lerp(a: f32, b: f32, t: f32) -> u8 {
    (a + (b - a) * t).round().clamp(0.0, 255.0) as u8
}

/// The colour of a scaled value `t` (in [-1, 1] for `Bwr`, [0, 1] for `Heat`; clamped; NaN = 0).
pub fn color(cmap: Colormap, t: f32) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t };
    match cmap {
        Colormap::Bwr => {
            let t = t.clamp(-1.0, 1.0);
            if t < 0.0 {
                let g = lerp(255.0, 0.0, -t);
                [g, g, 255]
            } else {
                let g = lerp(255.0, 0.0, t);
                [255, g, g]
            }
        }
        Colormap::Heat => {
            let t = t.clamp(0.0, 1.0) * 3.0;
            if t < 1.0 {
                [lerp(0.0, 255.0, t), 0, 0]
            } else if t < 2.0 {
                [255, lerp(0.0, 255.0, t - 1.0), 0]
            } else {
                [255, 255, lerp(0.0, 255.0, t - 2.0)]
            }
        }
    }
}

/// How colour strength follows the scaled value below the clip: the colour of `t` (in [-1, 1]) is
/// the colour of `sign(t) · |t|^γ`. γ = 1 is linear; γ < 1 lifts small values so that a sparse map
/// (most of |R| on a few pixels, as R-LRP's on deep networks) shows where the rest of its evidence
/// lies; the colour bar shows the same curve, so no value is misread.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Contrast {
    /// γ = 1: colour proportional to relevance.
    #[default]
    Linear,
    /// A fixed γ (clamped to [[`MIN_GAMMA`], 1]).
    Gamma(f32),
    /// γ chosen per map by [`auto_gamma`].
    Auto,
}

/// The smallest γ any contrast setting uses.
pub const MIN_GAMMA: f32 = 0.3;
/// [`auto_gamma`] makes at least this share of the pixels visibly coloured ...
pub const AUTO_VISIBLE_SHARE: f64 = 0.2;
/// ... where "visibly coloured" means at least this fraction of full colour (26 of 255 levels away
/// from the colour of zero).
pub const VISIBLE_COLOUR: f32 = 0.1;

impl Contrast {
    /// The γ this setting gives for `values` scaled by `clip`.
    pub fn gamma(self, values: &[f32], clip: f32) -> f32 {
        match self {
            Contrast::Linear => 1.0,
            Contrast::Gamma(g) if g.is_finite() => g.clamp(MIN_GAMMA, 1.0),
            Contrast::Gamma(_) => 1.0,
            Contrast::Auto => auto_gamma(values, clip),
        }
    }

    /// Parses `auto`, `linear` or a γ in (0, 1] (the command line's `--contrast`).
    pub fn parse(s: &str) -> Result<Contrast> {
        match s.trim() {
            "auto" => Ok(Contrast::Auto),
            "linear" => Ok(Contrast::Linear),
            t => match t.parse::<f32>() {
                Ok(g) if g.is_finite() && g > 0.0 && g <= 1.0 => Ok(Contrast::Gamma(g)),
                _ => Err(Error::Request(format!(
                    "contrast '{t}': expected auto, linear or a gamma in (0, 1] (e.g. 0.5)"
                ))),
            },
        }
    }
}

/// The γ closest to linear (largest, at most 1, at least [`MIN_GAMMA`]) at which at least
/// [`AUTO_VISIBLE_SHARE`] of the pixels get [`VISIBLE_COLOUR`] or more: with `q` the
/// (1 − share)-quantile of `|v| / clip`, `q^γ ≥ VISIBLE_COLOUR` gives `γ = ln(VISIBLE_COLOUR) / ln(q)`.
/// Rounded down to a multiple of 0.05 so that the colour bar's label stays short. Maps with too few
/// non-zero pixels to reach the share (an MNIST digit's background) get [`MIN_GAMMA`]; an invalid
/// clip or an empty map gives 1.
pub fn auto_gamma(values: &[f32], clip: f32) -> f32 {
    if !(clip.is_finite() && clip > 0.0) || values.is_empty() {
        return 1.0;
    }
    let mut a: Vec<f32> = values.iter().map(|v| if v.is_finite() { (v.abs() / clip).min(1.0) } else { 0.0 }).collect();
    let k = ((a.len() as f64) * (1.0 - AUTO_VISIBLE_SHARE)).floor() as usize;
    let k = k.min(a.len() - 1);
    let (_, q, _) = a.select_nth_unstable_by(k, |x, y| x.total_cmp(y));
    let q = *q;
    if q >= VISIBLE_COLOUR {
        return 1.0;
    }
    if q <= 0.0 {
        return MIN_GAMMA;
    }
    let g = (VISIBLE_COLOUR.ln() / q.ln()).clamp(MIN_GAMMA, 1.0);
    ((g * 20.0 + 1e-4).floor() / 20.0).max(MIN_GAMMA)
}

/// The scale of a painted map: `clip` is the |R| shown at full colour, `gamma` the contrast curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub clip: f32,
    pub gamma: f32,
}

impl Scale {
    /// The |R| drawn at colour strength `t` in [0, 1] (the colour bar's tick values).
    pub fn value_at(&self, t: f32) -> f32 {
        self.clip * t.clamp(0.0, 1.0).powf(1.0 / self.gamma)
    }
}

/// Renders an `h` x `w` map (`values` row-major) with a colormap, linearly; alpha is 255
/// everywhere.
///
/// Each value is scaled by `mode` with `clip` as full scale (see [`ScaleMode`]); values beyond
/// `±clip` saturate (±infinity too). NaN values, and every value when `clip` is zero, negative or
/// non-finite, get the colour of zero (white for `Bwr`, black for `Heat`). If `values` is shorter
/// than `h * w` the missing pixels get the colour of zero; extra values are ignored.
pub fn render(h: usize, w: usize, values: &[f32], cmap: Colormap, mode: ScaleMode, clip: f32) -> RgbaImage {
    render_scaled(h, w, values, cmap, mode, Scale { clip, gamma: 1.0 })
}

/// [`render`] with a contrast curve: after scaling and clamping, `t → sign(t)·|t|^γ` ([`Contrast`];
/// a γ outside (0, 1) or non-finite counts as 1, linear).
pub fn render_scaled(h: usize, w: usize, values: &[f32], cmap: Colormap, mode: ScaleMode, scale: Scale) -> RgbaImage {
    let clip = scale.clip;
    let valid_clip = clip.is_finite() && clip > 0.0;
    let gamma = if scale.gamma.is_finite() && scale.gamma > 0.0 && scale.gamma < 1.0 { scale.gamma } else { 1.0 };
    let mut img = RgbaImage::new(w as u32, h as u32);
    for (i, px) in img.pixels_mut().enumerate() {
        let v = values.get(i).copied().unwrap_or(0.0);
        let t = if !valid_clip || v.is_nan() {
            0.0
        } else {
            let t = match mode {
                ScaleMode::Signed => v / clip,
                ScaleMode::Absolute => v.abs() / clip,
                ScaleMode::Positive => v.max(0.0) / clip,
            };
            // ±inf / clip = ±inf: clamp; NaN cannot occur here
            let t = t.clamp(-1.0, 1.0);
            if gamma == 1.0 {
                t
            } else {
                t.signum() * t.abs().powf(gamma)
            }
        };
        let [r, g, b] = color(cmap, t);
        *px = Rgba([r, g, b, 255]);
    }
    img
}

/// Alpha-blends `heat` over `base`: `out = base * (1 - a) + heat * a` with
/// `a = opacity * heat_alpha / 255`, `opacity` clamped to [0, 1] (NaN = 0). The result has the
/// size of `base`; if `heat` has another size it is sampled nearest-neighbour (pixel centres) to
/// fit, and an empty `heat` leaves `base` unchanged.
pub fn overlay(base: &RgbImage, heat: &RgbaImage, opacity: f32) -> RgbImage {
    let op = if opacity.is_nan() { 0.0 } else { opacity.clamp(0.0, 1.0) };
    let (bw, bh) = base.dimensions();
    let (hw, hh) = heat.dimensions();
    if hw == 0 || hh == 0 {
        return base.clone();
    }
    let mut out = base.clone();
    for (x, y, px) in out.enumerate_pixels_mut() {
        let hx = ((x as u64 * 2 + 1) * hw as u64 / (2 * bw as u64)).min(hw as u64 - 1) as u32;
        let hy = ((y as u64 * 2 + 1) * hh as u64 / (2 * bh as u64)).min(hh as u64 - 1) as u32;
        let hp = heat.get_pixel(hx, hy).0;
        let a = op * hp[3] as f32 / 255.0;
        for (o, &c) in px.0.iter_mut().zip(hp.iter()) {
            *o = lerp(*o as f32, c as f32, a);
        }
    }
    out
}

/// Enlarges an image by an integer factor with nearest-neighbour sampling (crisp pixels, e.g. to
/// show a 28 x 28 MNIST heatmap at 280 x 280). A factor of 0 is treated as 1.
pub fn upscale_nearest(img: &RgbImage, factor: u32) -> RgbImage {
    let f = factor.max(1);
    let (w, h) = img.dimensions();
    RgbImage::from_fn(w * f, h * f, |x, y| *img.get_pixel(x / f, y / f))
}

/// Encodes an 8-bit image (`RgbImage`, `RgbaImage`, `GrayImage`...) as PNG bytes.
pub fn encode_png<P>(img: &ImageBuffer<P, Vec<u8>>) -> Result<Vec<u8>>
where
    P: PixelWithColorType<Subpixel = u8>,
{
    let mut buf = Vec::new();
    img.write_with_encoder(image::codecs::png::PngEncoder::new(&mut buf))
        .map_err(|e| Error::Image(format!("cannot encode the PNG: {e}")))?;
    Ok(buf)
}

/// Heatmap settings.
#[derive(Clone, Copy, Debug)]
pub struct HeatmapStyle {
    pub colormap: Colormap,
    pub mode: ScaleMode,
    /// The colour scale saturates at this percentile of |R| (Captum's outlier_perc = 100 − this).
    pub clip_percentile: f64,
    /// How colour strength follows |R| below the clip.
    pub contrast: Contrast,
}

impl Default for HeatmapStyle {
    fn default() -> Self {
        HeatmapStyle {
            colormap: Colormap::Bwr,
            mode: ScaleMode::Signed,
            clip_percentile: 99.5,
            contrast: Contrast::Linear,
        }
    }
}

/// The colour picture of a channel-summed relevance map (h × w values) and its scale (the |R| at
/// which colour saturates, the contrast curve). The command line and the page both draw with this.
pub fn paint(h: usize, w: usize, values: &[f32], style: &HeatmapStyle) -> (Scale, image::RgbaImage) {
    let clip = percentile_abs(values, style.clip_percentile);
    paint_scaled(h, w, values, style, clip)
}

/// [`paint`] with a given clip (a scale shared by several maps); the contrast still follows `style`.
pub fn paint_scaled(h: usize, w: usize, values: &[f32], style: &HeatmapStyle, clip: f32) -> (Scale, image::RgbaImage) {
    let scale = Scale { clip, gamma: style.contrast.gamma(values, clip) };
    (scale, render_scaled(h, w, values, style.colormap, style.mode, scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::ndarray;

    #[test]
    fn heatmap_channel_sum_layouts() {
        let t = Tensor::from_shape_vec(ndarray::IxDyn(&[1, 2, 2, 3]), (0..12).map(|v| v as f32).collect()).unwrap();
        // NCHW: C = 2, H = 2, W = 3
        let (h, w, v) = channel_sum(&t, Layout::Nchw);
        assert_eq!((h, w), (2, 3));
        assert_eq!(v, vec![6.0, 8.0, 10.0, 12.0, 14.0, 16.0]);
        // NHWC: H = 2, W = 2, C = 3
        let (h, w, v) = channel_sum(&t, Layout::Nhwc);
        assert_eq!((h, w), (2, 2));
        assert_eq!(v, vec![3.0, 12.0, 21.0, 30.0]);
        let t0 = Tensor::zeros(ndarray::IxDyn(&[]));
        assert_eq!(channel_sum(&t0, Layout::Nchw), (1, 1, vec![0.0]));
    }

    #[test]
    fn contrast_gamma_curve_and_colour_bar_values_agree() {
        // t = 0.25 at γ = 0.5 is drawn at strength 0.5; the bar says 0.5 means clip · 0.25
        let img =
            render_scaled(1, 2, &[0.25, -0.25], Colormap::Bwr, ScaleMode::Signed, Scale { clip: 1.0, gamma: 0.5 });
        assert_eq!(img.get_pixel(0, 0).0, [255, 128, 128, 255]);
        assert_eq!(img.get_pixel(1, 0).0, [128, 128, 255, 255]);
        let s = Scale { clip: 2.0, gamma: 0.5 };
        assert!((s.value_at(0.5) - 0.5).abs() < 1e-6);
        assert_eq!(s.value_at(1.0), 2.0);
        // an invalid γ draws linearly
        let lin = render(1, 1, &[0.25], Colormap::Bwr, ScaleMode::Signed, 1.0);
        for g in [0.0, -1.0, f32::NAN, 2.0] {
            let img = render_scaled(1, 1, &[0.25], Colormap::Bwr, ScaleMode::Signed, Scale { clip: 1.0, gamma: g });
            assert_eq!(img, lin, "gamma {g}");
        }
    }

    #[test]
    fn percentile_abs_equals_numpy_interpolation_over_the_sorted_values() {
        // The reference: numpy's linear interpolation over the sorted |v| (finite values only).
        let reference = |values: &[f32], p: f64| -> f32 {
            let mut a: Vec<f32> = values.iter().filter(|v| v.is_finite()).map(|v| v.abs()).collect();
            a.sort_by(|x, y| x.total_cmp(y));
            let pos = p / 100.0 * (a.len() - 1) as f64;
            let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
            let hi = (lo + 1).min(a.len() - 1);
            (a[lo] as f64 + (a[hi] as f64 - a[lo] as f64) * frac) as f32
        };
        let mut state = 12345u32;
        let mut next = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            (state >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        };
        for len in [1usize, 2, 3, 10, 101, 1000] {
            let mut v: Vec<f32> = (0..len).map(|_| next()).collect();
            // ties, signed zeros and non-finite values among them
            if len > 3 {
                v[1] = v[0];
                v[2] = -0.0;
                v[3] = f32::NAN;
            }
            for p in [0.0, 1.0, 50.0, 99.5, 99.99, 100.0] {
                assert_eq!(percentile_abs(&v, p), reference(&v, p), "len {len} p {p}");
            }
        }
        assert_eq!(percentile_abs(&[1.0, -3.0, 2.0, 4.0], 50.0), 2.5);
        assert_eq!(percentile_abs(&[f32::NAN, f32::INFINITY], 99.5), 0.0);
    }

    #[test]
    fn auto_gamma_makes_a_fifth_of_the_pixels_visible_and_stays_linear_when_they_are() {
        // dense map: 20 % or more already at >= 10 % colour -> linear
        let dense: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
        assert_eq!(auto_gamma(&dense, 1.0), 1.0);
        // sparse map: the 80th percentile is 0.01 -> γ = ln 0.1 / ln 0.01 = 0.5
        let mut sparse = vec![0.001f32; 80];
        sparse.extend(std::iter::repeat_n(0.01, 19));
        sparse.push(1.0);
        let g = auto_gamma(&sparse, 1.0);
        assert_eq!(g, 0.5);
        let visible = sparse.iter().filter(|v| v.abs().powf(g) >= VISIBLE_COLOUR - 1e-6).count();
        assert!(visible as f64 >= AUTO_VISIBLE_SHARE * 100.0, "{visible}");
        // mostly zero (an MNIST background), empty, invalid clip
        let mut digit = vec![0.0f32; 90];
        digit.extend([1.0f32; 10]);
        assert_eq!(auto_gamma(&digit, 1.0), MIN_GAMMA);
        assert_eq!(auto_gamma(&[], 1.0), 1.0);
        assert_eq!(auto_gamma(&dense, 0.0), 1.0);
        assert_eq!(auto_gamma(&dense, f32::NAN), 1.0);
        assert_eq!(auto_gamma(&[f32::NAN, f32::INFINITY], 1.0), MIN_GAMMA);
    }

    #[test]
    fn contrast_parses_the_command_line_forms() {
        assert_eq!(Contrast::parse("auto").unwrap(), Contrast::Auto);
        assert_eq!(Contrast::parse("linear").unwrap(), Contrast::Linear);
        assert_eq!(Contrast::parse("0.5").unwrap(), Contrast::Gamma(0.5));
        for bad in ["0", "1.5", "-1", "nan", "x"] {
            assert!(Contrast::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Contrast::Gamma(0.1).gamma(&[], 1.0), MIN_GAMMA);
    }
}
