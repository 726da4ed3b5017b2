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
    a.sort_unstable_by(|x, y| x.total_cmp(y));
    let pos = p / 100.0 * (a.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(a.len() - 1);
    let frac = pos - lo as f64;
    (a[lo] as f64 + (a[hi] as f64 - a[lo] as f64) * frac) as f32
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

/// Renders an `h` x `w` map (`values` row-major) with a colormap; alpha is 255 everywhere.
///
/// Each value is scaled by `mode` with `clip` as full scale (see [`ScaleMode`]); values beyond
/// `±clip` saturate (±infinity too). NaN values, and every value when `clip` is zero, negative or
/// non-finite, get the colour of zero (white for `Bwr`, black for `Heat`). If `values` is shorter
/// than `h * w` the missing pixels get the colour of zero; extra values are ignored.
pub fn render(h: usize, w: usize, values: &[f32], cmap: Colormap, mode: ScaleMode, clip: f32) -> RgbaImage {
    let valid_clip = clip.is_finite() && clip > 0.0;
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
            t.clamp(-1.0, 1.0)
        };
        let [r, g, b] = color(cmap, t);
        *px = Rgba([r, g, b, 255]);
    }
    img
}

/// Sets each pixel's alpha to its colour strength, `255·min(1, |t|)` with `t` scaled as in [`render`],
/// so that an [`overlay`] shows the picture where relevance is near zero instead of washing it out
/// with the colour of zero. NaN values and an invalid clip give alpha 0.
pub fn alpha_by_magnitude(img: &mut RgbaImage, values: &[f32], mode: ScaleMode, clip: f32) {
    let valid_clip = clip.is_finite() && clip > 0.0;
    for (i, px) in img.pixels_mut().enumerate() {
        let v = values.get(i).copied().unwrap_or(0.0);
        let t = if !valid_clip || v.is_nan() {
            0.0
        } else {
            match mode {
                ScaleMode::Signed | ScaleMode::Absolute => v.abs() / clip,
                ScaleMode::Positive => v.max(0.0) / clip,
            }
        };
        px.0[3] = (t.clamp(0.0, 1.0) * 255.0).round() as u8;
    }
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
}

impl Default for HeatmapStyle {
    fn default() -> Self {
        HeatmapStyle { colormap: Colormap::Bwr, mode: ScaleMode::Signed, clip_percentile: 99.5 }
    }
}

/// The colour picture of a channel-summed relevance map (h × w values) and the |R| at which its
/// colour scale saturates. The command line and the page both draw with this.
pub fn paint(h: usize, w: usize, values: &[f32], style: &HeatmapStyle) -> (f32, image::RgbaImage) {
    let clip = percentile_abs(values, style.clip_percentile);
    (clip, render(h, w, values, style.colormap, style.mode, clip))
}

/// The heatmap laid over the (resized, cropped) image: colour where relevance is, the photo where it
/// is not. Returns the clip value and the picture.
pub fn paint_over(
    base: &image::RgbImage,
    values: &[f32],
    style: &HeatmapStyle,
    opacity: f32,
) -> (f32, image::RgbImage) {
    let (w, h) = base.dimensions();
    let (clip, mut heat) = paint(h as usize, w as usize, values, style);
    alpha_by_magnitude(&mut heat, values, style.mode, clip);
    (clip, overlay(base, &heat, opacity))
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
}
