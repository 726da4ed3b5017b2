//! Image bytes -> model input tensor, exactly as the model's [`Sidecar`] says.
//!
//! Pipeline ([`preprocess`]):
//! 1. colour conversion to 8 bits per channel: `rgb`/`bgr` models get the RGB channels (an alpha
//!    channel is **discarded**, not composited, as Pillow's `convert("RGB")` does; grayscale images
//!    are replicated to three channels); `gray` models get the luma of a colour image computed as
//!    Pillow's `convert("L")` does, `(19595 R + 38470 G + 7471 B + 32768) >> 16`, and grayscale
//!    images unchanged. 16-bit images are reduced to 8 bits first (`image`'s rounding conversion).
//!    EXIF orientation is not applied (neither does `PIL.Image.open`).
//! 2. resize ([`Resize`]) with a re-implementation of Pillow's `Image.resize` (same filter
//!    definitions, same support scaling when downsampling, same 22-bit fixed-point coefficients
//!    and rounding, horizontal pass then vertical pass with an 8-bit intermediate, and no pass at
//!    all along an axis whose size does not change): for the same 8-bit input it gives the same
//!    bytes as Pillow 13. Only the pixels that survive the crop are computed, which is exactly
//!    equivalent (every output pixel of Pillow's separable resize is computed independently).
//! 3. crop ([`Crop`]): the central window, `left = (W' - W) / 2`, `top = (H' - H) / 2`.
//! 4. normalisation `x = (p * scale - mean[c]) / std[c]` (in f64, rounded once to f32), in model
//!    channel order (channel 0 is blue for `bgr`), in the sidecar's layout (NCHW or NHWC).
//!
//! The cropped 8-bit picture is returned too ([`Preprocessed::display`]) for heatmap overlays.
use crate::error::{Error, Result};
use crate::sidecar::{ColorOrder, Crop, Filter, Layout, Resize, Sidecar};
use crate::tensor::{ndarray, Tensor};
use image::{DynamicImage, ImageFormat, ImageReader, Limits, RgbImage};
use std::io::Cursor;

use crate::budget::{MAX_IMAGE_DECODE_BYTES, MAX_IMAGE_HEADER_BYTES};
pub use crate::budget::{MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE};
/// Largest intermediate (resized, before cropping) size accepted, per side; only the cropped part
/// is ever computed, so this is a sanity bound against absurd aspect ratios, not a memory bound.
const MAX_RESIZED_SIDE: u64 = 1 << 24;

/// The result of [`preprocess`].
#[derive(Debug, Clone)]
pub struct Preprocessed {
    /// The model input, shape [`Sidecar::input_shape`] (e.g. `[1, 3, 224, 224]`).
    pub tensor: Tensor,
    /// The resized and cropped picture the model sees (H x W of the model input), as RGB (gray
    /// models: the gray value in all three channels; bgr models: still in RGB order).
    pub display: RgbImage,
}

fn img_err<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Image(msg.into()))
}

fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Png => "PNG",
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::WebP => "WebP",
        ImageFormat::Gif => "GIF",
        ImageFormat::Bmp => "BMP",
        _ => "this format",
    }
}

/// Describes bytes that are not a supported image, for the error message.
fn sniff(bytes: &[u8]) -> String {
    let head: String = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
    let what = if bytes.starts_with(b"\x93NUMPY") {
        " (this is a NumPy .npy file)"
    } else if bytes.starts_with(b"%PDF") {
        " (this is a PDF)"
    } else if bytes.starts_with(b"\x08") && bytes.len() > 1 {
        " (this may be an ONNX/protobuf file)"
    } else if bytes.starts_with(b"<svg") || bytes.starts_with(b"<?xml") {
        " (SVG/XML is not supported)"
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        " (HEIC/AVIF/MP4 are not supported)"
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        " (TIFF is not supported)"
    } else if bytes.iter().take(64).all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) {
        " (this looks like text)"
    } else {
        ""
    };
    format!("first bytes {head}{what}")
}

/// Decodes PNG, JPEG, WebP, GIF (first frame) or BMP bytes (the format is detected from the
/// content, not a file name).
///
/// The dimensions are read from the header first; images wider or taller than
/// [`MAX_IMAGE_SIDE`], larger than [`MAX_IMAGE_PIXELS`], or of zero size are rejected before any
/// pixel is decoded. Errors are [`Error::Image`] with a message naming the problem (empty input,
/// unrecognised format, too large, truncated or corrupt data).
pub fn decode_image(bytes: &[u8]) -> Result<DynamicImage> {
    if bytes.is_empty() {
        return img_err("the image file is empty (0 bytes)");
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(format!("cannot read the image: {e}")))?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif | ImageFormat::Bmp)) => f,
        Some(f) => return img_err(format!("unsupported image format {f:?} (supported: PNG, JPEG, WebP, GIF, BMP)")),
        None => {
            return img_err(format!(
                "not a supported image: the content is not PNG, JPEG, WebP, GIF or BMP ({})",
                sniff(bytes)
            ))
        }
    };
    let name = format_name(format);
    // Read the header with a memory limit but no size limit (metadata such as a PNG's compressed ICC
    // profile is decoded with the header: a decompression bomb there must not allocate), so that an
    // oversized image gets our own clear message; then put the size limits on the decoder as a
    // second line of defence while the pixels are decoded.
    let mut reader = reader;
    reader.limits(header_limits());
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        image::ImageError::Limits(l) => Error::Image(format!(
            "the {name} header asks for more memory than the limit of {} ({l}; a compressed metadata chunk such as an ICC profile?)",
            crate::budget::human_bytes(MAX_IMAGE_HEADER_BYTES)
        )),
        e => Error::Image(format!("cannot read the {name} header (truncated or corrupt file?): {e}")),
    })?;
    let (w, h) = image::ImageDecoder::dimensions(&decoder);
    check_dimensions(w, h)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_DECODE_BYTES);
    let total = image::ImageDecoder::total_bytes(&decoder);
    if limits.max_alloc.is_some_and(|m| total > m) {
        return img_err(format!("the {name} image ({w}x{h}) would need {} MB of memory to decode", total >> 20));
    }
    image::ImageDecoder::set_limits(&mut decoder, limits)
        .map_err(|e| Error::Image(format!("the {name} image ({w}x{h}) exceeds the decoding limits: {e}")))?;
    let img = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(l) => {
            Error::Image(format!("the {name} image ({w}x{h}) exceeds the decoding limits: {l}"))
        }
        e => Error::Image(format!("cannot decode the {name} image ({w}x{h}; truncated or corrupt data?): {e}")),
    })?;
    check_dimensions(img.width(), img.height())?;
    Ok(img)
}

/// Reads only the dimensions (width, height) of an image from its header, with the same format
/// detection and errors as [`decode_image`] but without decoding any pixel and without the size
/// limits (the header's memory limit holds).
pub fn probe_dimensions(bytes: &[u8]) -> Result<(u32, u32)> {
    if bytes.is_empty() {
        return img_err("the image file is empty (0 bytes)");
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(format!("cannot read the image: {e}")))?;
    if reader.format().is_none() {
        return img_err(format!(
            "not a supported image: the content is not PNG, JPEG, WebP, GIF or BMP ({})",
            sniff(bytes)
        ));
    }
    reader.limits(header_limits());
    reader.into_dimensions().map_err(|e| Error::Image(format!("cannot read the image header: {e}")))
}

/// Limits for reading an image header: no size limit (the size is checked with our own message),
/// but a memory limit for what the header's metadata may decompress to.
fn header_limits() -> Limits {
    let mut limits = Limits::no_limits();
    limits.max_alloc = Some(MAX_IMAGE_HEADER_BYTES);
    limits
}

fn check_dimensions(w: u32, h: u32) -> Result<()> {
    if w == 0 || h == 0 {
        return img_err(format!("the image has zero size ({w}x{h})"));
    }
    if w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE {
        return img_err(format!("the image is too large: {w}x{h} (at most {MAX_IMAGE_SIDE} pixels per side)"));
    }
    if w as u64 * h as u64 > MAX_IMAGE_PIXELS {
        return img_err(format!(
            "the image is too large: {w}x{h} = {:.1} megapixels (at most {} megapixels)",
            w as f64 * h as f64 / 1e6,
            MAX_IMAGE_PIXELS / 1_000_000
        ));
    }
    Ok(())
}

/// Decodes `bytes` with [`decode_image`] and runs [`preprocess`].
pub fn preprocess_bytes(bytes: &[u8], sc: &Sidecar) -> Result<Preprocessed> {
    preprocess(&decode_image(bytes)?, sc)
}

/// An 8-bit interleaved image with 1 or 3 channels.
struct Plane {
    w: usize,
    h: usize,
    c: usize,
    data: Vec<u8>,
}

/// Pillow's `convert("L")` from RGB: ITU-R 601-2 luma in 16-bit fixed point.
#[inline]
fn pil_luma(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 0x8000) >> 16) as u8
}

/// Step 1 of the pipeline: 8-bit gray (c = 1) or RGB (c = 3).
fn to_plane(img: &DynamicImage, gray: bool) -> Plane {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let data = if gray {
        match img {
            DynamicImage::ImageLuma8(g) => g.as_raw().clone(),
            DynamicImage::ImageLumaA8(g) => g.as_raw().chunks_exact(2).map(|p| p[0]).collect(),
            DynamicImage::ImageLuma16(_) | DynamicImage::ImageLumaA16(_) => img.to_luma8().into_raw(),
            _ => img.to_rgb8().as_raw().chunks_exact(3).map(|p| pil_luma(p[0], p[1], p[2])).collect(),
        }
    } else {
        match img {
            DynamicImage::ImageRgb8(rgb) => rgb.as_raw().clone(),
            _ => img.to_rgb8().into_raw(),
        }
    };
    Plane { w, h, c: if gray { 1 } else { 3 }, data }
}

/// Python's `round(n / d)` for non-negative integers (round half to even).
fn round_div_half_even(n: u64, d: u64) -> u64 {
    let (q, r) = (n / d, n % d);
    match (2 * r).cmp(&d) {
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
        std::cmp::Ordering::Less => q,
    }
}

/// Turns a decoded image into the model input described by `sc` (see the module docs for the
/// exact pipeline).
///
/// Errors ([`Error::Image`]): the image (after the resize step) is smaller than the model input
/// and cannot be cropped to it, or `resize: "none"`/`crop: "none"` is used with an image that is
/// not already the model size. An invalid sidecar gives [`Error::Sidecar`].
pub fn preprocess(img: &DynamicImage, sc: &Sidecar) -> Result<Preprocessed> {
    sc.validate()?;
    if img.width() == 0 || img.height() == 0 {
        return img_err(format!("the image has zero size ({}x{})", img.width(), img.height()));
    }
    let spec = &sc.input;
    let color = sc.color();
    let src = to_plane(img, color == ColorOrder::Gray);
    let (tw, th) = (spec.width, spec.height);
    // size after the resize step
    let (rw, rh) = match spec.resize {
        Resize::Stretch => (tw, th),
        Resize::None => (src.w, src.h),
        Resize::ShorterSide(s) => {
            let m = src.w.min(src.h) as u64;
            (
                round_div_half_even(src.w as u64 * s as u64, m) as usize,
                round_div_half_even(src.h as u64 * s as u64, m) as usize,
            )
        }
    };
    if rw as u64 > MAX_RESIZED_SIDE || rh as u64 > MAX_RESIZED_SIDE {
        return img_err(format!(
            "the image's aspect ratio is too extreme: {}x{} would be resized to {rw}x{rh}",
            src.w, src.h
        ));
    }
    // crop window in the resized image
    let (left, top) = match spec.crop {
        _ if rw == tw && rh == th => (0, 0),
        Crop::None => {
            let msg = format!(
                "the image is {rw}x{rh} after the resize step but the model needs {tw}x{th}, and the \
                 sidecar says crop \"none\""
            );
            return img_err(msg);
        }
        Crop::Center => {
            if rw < tw || rh < th {
                return img_err(format!(
                    "the image is {rw}x{rh} after the resize step, smaller than the {tw}x{th} model \
                     input, so it cannot be center-cropped"
                ));
            }
            ((rw - tw) / 2, (rh - th) / 2)
        }
    };
    let out = resize_window(&src, rw, rh, left, top, tw, th, spec.filter);
    Ok(Preprocessed { tensor: normalise(&out, sc)?, display: to_display(&out) })
}

fn to_display(p: &Plane) -> RgbImage {
    let data: Vec<u8> = if p.c == 3 { p.data.clone() } else { p.data.iter().flat_map(|&v| [v, v, v]).collect() };
    // the length is w * h * 3 by construction
    RgbImage::from_raw(p.w as u32, p.h as u32, data).unwrap_or_else(|| RgbImage::new(p.w as u32, p.h as u32))
}

fn normalise(p: &Plane, sc: &Sidecar) -> Result<Tensor> {
    let (mean, std) = (sc.mean(), sc.std());
    let scale = sc.input.scale;
    let c = p.c;
    let bgr = sc.color() == ColorOrder::Bgr;
    // lookup table per model channel: value of each pixel level
    let lut: Vec<[f32; 256]> = (0..c)
        .map(|k| {
            let mut t = [0f32; 256];
            for (v, x) in t.iter_mut().enumerate() {
                *x = ((v as f64 * scale - mean[k]) / std[k]) as f32;
            }
            t
        })
        .collect();
    let src_channel = |k: usize| if bgr { c - 1 - k } else { k };
    let (h, w) = (p.h, p.w);
    let mut data = vec![0f32; c * h * w];
    match sc.input.layout {
        Layout::Nchw => {
            for k in 0..c {
                let s = src_channel(k);
                let dst = &mut data[k * h * w..(k + 1) * h * w];
                for (i, d) in dst.iter_mut().enumerate() {
                    *d = lut[k][p.data[i * c + s] as usize];
                }
            }
        }
        Layout::Nhwc => {
            for i in 0..h * w {
                for k in 0..c {
                    data[i * c + k] = lut[k][p.data[i * c + src_channel(k)] as usize];
                }
            }
        }
    }
    Tensor::from_shape_vec(ndarray::IxDyn(&sc.input_shape()), data)
        .map_err(|e| Error::Image(format!("internal error building the input tensor: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Pillow-exact resampling (Pillow src/libImaging/Resample.c, 8 bits per channel)
// ---------------------------------------------------------------------------------------------

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn filter_support(f: Filter) -> f64 {
    match f {
        Filter::Nearest => 0.0,
        Filter::Box => 0.5,
        Filter::Bilinear | Filter::Hamming => 1.0,
        Filter::Bicubic => 2.0,
        Filter::Lanczos => 3.0,
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
}

fn filter_eval(f: Filter, x: f64) -> f64 {
    match f {
        Filter::Nearest => 0.0,
        Filter::Box => {
            if x > -0.5 && x <= 0.5 {
                1.0
            } else {
                0.0
            }
        }
        Filter::Bilinear => {
            let x = x.abs();
            if x < 1.0 {
                1.0 - x
            } else {
                0.0
            }
        }
        Filter::Hamming => {
            let x = x.abs();
            if x == 0.0 {
                1.0
            } else if x >= 1.0 {
                0.0
            } else {
                let x = x * std::f64::consts::PI;
                x.sin() / x * (0.54 + 0.46 * x.cos())
            }
        }
        Filter::Bicubic => {
            const A: f64 = -0.5;
            let x = x.abs();
            if x < 1.0 {
                ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
            } else if x < 2.0 {
                (((x - 5.0) * x + 8.0) * x - 4.0) * A
            } else {
                0.0
            }
        }
        Filter::Lanczos => {
            if (-3.0..3.0).contains(&x) {
                sinc(x) * sinc(x / 3.0)
            } else {
                0.0
            }
        }
    }
}

/// Fixed-point coefficients of one output position: first input index and weights.
struct Taps {
    start: usize,
    k: Vec<i32>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for output positions `o0..o1` of a
/// resize from `in_size` to `out_size` (box = the whole input).
fn coeffs(in_size: usize, out_size: usize, o0: usize, o1: usize, f: Filter) -> Vec<Taps> {
    let scale = in_size as f32 as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter_support(f) * filterscale;
    let ss = 1.0 / filterscale;
    (o0..o1)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64).max(0) as usize;
            let n = xmax.saturating_sub(xmin);
            let w: Vec<f64> = (0..n).map(|x| filter_eval(f, ((x + xmin) as f64 - center + 0.5) * ss)).collect();
            let ww: f64 = w.iter().sum();
            let k = w
                .iter()
                .map(|&v| {
                    let v = if ww != 0.0 { v / ww } else { v };
                    let s = v * (1u32 << PRECISION_BITS) as f64;
                    if v < 0.0 {
                        (-0.5 + s) as i32
                    } else {
                        (0.5 + s) as i32
                    }
                })
                .collect();
            Taps { start: xmin, k }
        })
        .collect()
}

#[inline]
fn clip8(v: i64) -> u8 {
    if v >= (1i64 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Pillow's nearest-neighbour resize (`ImagingScaleAffine`): source index of each output
/// position in `o0..o1`, with Pillow's accumulated floating-point coordinate.
fn nearest_index(in_size: usize, out_size: usize, o0: usize, o1: usize) -> Vec<usize> {
    let step = in_size as f32 as f64 / out_size as f64;
    let mut pos = step * 0.5;
    let mut out = Vec::with_capacity(o1 - o0);
    for o in 0..o1 {
        if o >= o0 {
            let i = if pos < 0.0 { 0 } else { pos as usize };
            out.push(i.min(in_size - 1));
        }
        pos += step;
    }
    out
}

/// Resizes `src` to `rw` x `rh` (Pillow semantics) and returns the `tw` x `th` window at
/// (`left`, `top`) of the result, computing only that window.
#[allow(clippy::too_many_arguments)]
fn resize_window(src: &Plane, rw: usize, rh: usize, left: usize, top: usize, tw: usize, th: usize, f: Filter) -> Plane {
    let c = src.c;
    let need_h = rw != src.w;
    let need_v = rh != src.h;
    if f == Filter::Nearest {
        let xi: Vec<usize> =
            if need_h { nearest_index(src.w, rw, left, left + tw) } else { (left..left + tw).collect() };
        let yi: Vec<usize> = if need_v { nearest_index(src.h, rh, top, top + th) } else { (top..top + th).collect() };
        let mut data = Vec::with_capacity(tw * th * c);
        for &y in &yi {
            let row = &src.data[y * src.w * c..(y + 1) * src.w * c];
            for &x in &xi {
                data.extend_from_slice(&row[x * c..x * c + c]);
            }
        }
        return Plane { w: tw, h: th, c, data };
    }
    // vertical taps (for the rows of the window) and the source rows they read
    let vt = if need_v { Some(coeffs(src.h, rh, top, top + th, f)) } else { None };
    let (row0, row1) = match &vt {
        Some(v) => {
            (v.iter().map(|t| t.start).min().unwrap_or(0), v.iter().map(|t| t.start + t.k.len()).max().unwrap_or(0))
        }
        None => (top, top + th),
    };
    // horizontal pass over rows row0..row1, only the window's columns
    let tmp_rows = row1 - row0;
    let tmp: Vec<u8> = if need_h {
        let ht = coeffs(src.w, rw, left, left + tw, f);
        let mut tmp = vec![0u8; tmp_rows * tw * c];
        for y in 0..tmp_rows {
            let row = &src.data[(row0 + y) * src.w * c..(row0 + y + 1) * src.w * c];
            let out = &mut tmp[y * tw * c..(y + 1) * tw * c];
            for (x, t) in ht.iter().enumerate() {
                for ch in 0..c {
                    let mut ss: i64 = 1 << (PRECISION_BITS - 1);
                    for (j, &k) in t.k.iter().enumerate() {
                        ss += row[(t.start + j) * c + ch] as i64 * k as i64;
                    }
                    out[x * c + ch] = clip8(ss);
                }
            }
        }
        tmp
    } else {
        let mut tmp = Vec::with_capacity(tmp_rows * tw * c);
        for y in row0..row1 {
            tmp.extend_from_slice(&src.data[(y * src.w + left) * c..(y * src.w + left + tw) * c]);
        }
        tmp
    };
    let data = match vt {
        None => tmp,
        Some(vt) => {
            let stride = tw * c;
            let mut data = vec![0u8; th * stride];
            for (y, t) in vt.iter().enumerate() {
                let out = &mut data[y * stride..(y + 1) * stride];
                for (i, o) in out.iter_mut().enumerate() {
                    let mut ss: i64 = 1 << (PRECISION_BITS - 1);
                    for (j, &k) in t.k.iter().enumerate() {
                        ss += tmp[(t.start - row0 + j) * stride + i] as i64 * k as i64;
                    }
                    *o = clip8(ss);
                }
            }
            data
        }
    };
    Plane { w: tw, h: th, c, data }
}

/// Resizes an RGB image to `w` x `h` exactly as Pillow's `Image.resize((w, h), filter)` does for
/// an RGB image (see the module docs). A zero target size gives an empty image.
pub fn resize_rgb(img: &RgbImage, w: u32, h: u32, filter: Filter) -> RgbImage {
    if w == 0 || h == 0 || img.width() == 0 || img.height() == 0 {
        return RgbImage::new(w, h);
    }
    let src = Plane { w: img.width() as usize, h: img.height() as usize, c: 3, data: img.as_raw().clone() };
    let out = resize_window(&src, w as usize, h as usize, 0, 0, w as usize, h as usize, filter);
    to_display(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preprocess_round_half_even() {
        assert_eq!(round_div_half_even(5, 2), 2);
        assert_eq!(round_div_half_even(7, 2), 4);
        assert_eq!(round_div_half_even(451 * 256, 300), 385);
        assert_eq!(round_div_half_even(600 * 256, 400), 384);
    }

    #[test]
    fn preprocess_coeffs_sum_to_one() {
        for f in [Filter::Box, Filter::Bilinear, Filter::Hamming, Filter::Bicubic, Filter::Lanczos] {
            for (i, o) in [(451, 385), (10, 37), (300, 256), (7, 7)] {
                for t in coeffs(i, o, 0, o, f) {
                    let s: i64 = t.k.iter().map(|&k| k as i64).sum();
                    assert!((s - (1 << PRECISION_BITS)).abs() < 16, "{f:?} {i}->{o}: {s}");
                    assert!(t.start + t.k.len() <= i);
                }
            }
        }
    }

    #[test]
    fn preprocess_window_equals_full_then_crop() {
        let (w, h) = (37usize, 23usize);
        let data: Vec<u8> = (0..w * h * 3).map(|i| ((i * 7919) % 251) as u8).collect();
        let src = Plane { w, h, c: 3, data };
        for f in [Filter::Nearest, Filter::Bilinear, Filter::Bicubic, Filter::Lanczos] {
            for (rw, rh) in [(20, 30), (37, 11), (60, 23), (37, 23)] {
                let full = resize_window(&src, rw, rh, 0, 0, rw, rh, f);
                let (tw, th) = (rw.min(13), rh.min(9));
                let (l, t) = ((rw - tw) / 2, (rh - th) / 2);
                let win = resize_window(&src, rw, rh, l, t, tw, th, f);
                for y in 0..th {
                    for x in 0..tw * 3 {
                        assert_eq!(win.data[y * tw * 3 + x], full.data[(y + t) * rw * 3 + l * 3 + x]);
                    }
                }
            }
        }
    }
}
