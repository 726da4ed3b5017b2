//! The preprocessing sidecar: a small JSON file `M.json` next to a model `M.onnx` that says how an
//! image becomes the model's input tensor (size, colour order, layout, resize and crop, per-channel
//! normalisation), the range of values a preprocessed input can take (needed by the LRP zB rule)
//! and the class labels. The format is documented field by field in `docs/sidecar.md`.
//!
//! ```json
//! { "name": "EfficientNet-Lite0 (ImageNet)",
//!   "input": { "width": 224, "height": 224, "channels": 3, "color": "rgb", "layout": "nchw",
//!              "resize": { "shorter_side": 256 }, "filter": "bicubic", "crop": "center",
//!              "scale": 1.0, "mean": [127, 127, 127], "std": [128, 128, 128] },
//!   "labels_file": "imagenet_categories.json" }
//! ```
//!
//! Preprocessed value of a pixel `p` (0..=255) in model channel `c`: `(p * scale - mean[c]) / std[c]`.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Colour space and channel order of the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorOrder {
    /// Three channels, red first (channel 0 = R).
    Rgb,
    /// Three channels, blue first (channel 0 = B), as OpenCV/Caffe models expect.
    Bgr,
    /// One channel: luma `L = (19595 R + 38470 G + 7471 B + 2^15) >> 16` (Pillow's `convert("L")`,
    /// ITU-R 601-2) for colour images; grayscale images are used as they are.
    Gray,
}

/// Memory layout of the input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `[1, C, H, W]` (PyTorch, most ONNX exports).
    #[default]
    Nchw,
    /// `[1, H, W, C]` (TensorFlow / TFLite exports).
    Nhwc,
}

/// How the decoded image is resized before cropping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// Resize to exactly `width` x `height`, ignoring the aspect ratio. (JSON: `"stretch"`)
    #[default]
    Stretch,
    /// Scale so that the shorter side becomes this many pixels, keeping the aspect ratio: the new
    /// size is `(round(W*S/min(W,H)), round(H*S/min(W,H)))` with Python's round-half-to-even.
    /// (JSON: `{"shorter_side": 256}`)
    ShorterSide(u32),
    /// No resize: the image (after cropping) must already be `width` x `height`. (JSON: `"none"`)
    None,
}

/// Resampling filter, each as defined by Pillow's `Image.resize` (convolution-based, antialiased
/// when downscaling, 8-bit fixed point), which [`crate::preprocess`] reproduces exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    /// `Image.NEAREST`.
    Nearest,
    /// `Image.BOX`.
    Box,
    /// `Image.BILINEAR` (triangle filter).
    Bilinear,
    /// `Image.HAMMING`.
    Hamming,
    /// `Image.BICUBIC` (cubic convolution, a = -0.5).
    #[default]
    Bicubic,
    /// `Image.LANCZOS` (Lanczos-3).
    Lanczos,
}

/// How the resized image is cropped to `width` x `height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crop {
    /// Take the central `width` x `height` window: `left = (W' - width) / 2`, `top = (H' - height) / 2`
    /// (integer division, as `torchvision`'s `CenterCrop` on a PIL image and as the golden data).
    #[default]
    Center,
    /// No crop: the resized image must already be `width` x `height`.
    None,
}

/// The `input` section of a sidecar: everything needed to turn an image into the model input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Model input width W in pixels (> 0).
    pub width: usize,
    /// Model input height H in pixels (> 0).
    pub height: usize,
    /// Number of channels C: 1 (gray) or 3 (rgb / bgr).
    pub channels: usize,
    /// Colour order; defaults to `gray` for C = 1 and `rgb` for C = 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<ColorOrder>,
    /// Tensor layout; default `nchw`.
    #[serde(default)]
    pub layout: Layout,
    /// Resize step; default `"stretch"`.
    #[serde(default)]
    pub resize: Resize,
    /// Resampling filter of the resize step; default `bicubic`.
    #[serde(default)]
    pub filter: Filter,
    /// Crop step; default `center` (a no-op after `"stretch"`).
    #[serde(default)]
    pub crop: Crop,
    /// Factor applied to the 0..=255 pixel before the mean is subtracted; default 1.
    #[serde(default = "one")]
    pub scale: f64,
    /// Per-channel value subtracted after scaling (C entries, in model channel order); default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f64>>,
    /// Per-channel divisor (C entries, non-zero, in model channel order); default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f64>>,
}

fn one() -> f64 {
    1.0
}

/// A model's preprocessing sidecar (`M.json` next to `M.onnx`). See the module docs and
/// `docs/sidecar.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// Human-readable model name (for display only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How images become the model input.
    pub input: InputSpec,
    /// Class names, index = logit index. Takes precedence over `labels_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// A labels file relative to the sidecar's directory (JSON list of strings, or text with one
    /// label per line), read by [`Sidecar::resolve_labels_file`] when `labels` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels_file: Option<String>,
    /// `[low, high]`: the smallest and largest value a preprocessed input can take. Default:
    /// computed from scale/mean/std over pixels 0..=255 (see [`Sidecar::input_range`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_range: Option<[f32; 2]>,
    /// Licence of the model weights (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Where the model comes from (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Free-form notes (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// Largest accepted input side (the model input, not the uploaded image).
use crate::budget::{MAX_INPUT_PIXELS, MAX_INPUT_SIDE};

fn bad<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Sidecar(msg.into()))
}

impl Sidecar {
    /// Parses and validates a sidecar.
    ///
    /// Errors ([`Error::Sidecar`]): invalid JSON or unknown fields (the message names the line and
    /// column), non-positive or absurd sizes, a channel count other than 1 or 3, a colour order that
    /// does not match the channel count, `mean`/`std` of the wrong length, a zero or non-finite
    /// `std`, non-finite `scale`/`mean`, `shorter_side` of 0, a `crop: "none"` + `resize:
    /// {"shorter_side"}` combination, a bad `input_range`, or a `labels_file` that is absolute or
    /// contains `..`.
    pub fn from_json(bytes: &[u8]) -> Result<Sidecar> {
        let sc: Sidecar =
            serde_json::from_slice(bytes).map_err(|e| Error::Sidecar(format!("invalid sidecar JSON: {e}")))?;
        sc.validate()?;
        Ok(sc)
    }

    /// Serialises the sidecar as pretty-printed JSON (readable again by [`Sidecar::from_json`]).
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks the invariants listed in [`Sidecar::from_json`].
    pub fn validate(&self) -> Result<()> {
        let i = &self.input;
        if i.width == 0 || i.height == 0 {
            return bad(format!("input width and height must be positive (got {}x{})", i.width, i.height));
        }
        if i.width > MAX_INPUT_SIDE || i.height > MAX_INPUT_SIDE {
            return bad(format!(
                "input size {}x{} is too large (at most {MAX_INPUT_SIDE} per side)",
                i.width, i.height
            ));
        }
        if (i.width as u64) * (i.height as u64) > MAX_INPUT_PIXELS {
            return bad(format!(
                "input size {}x{} is too large ({} pixels; at most {MAX_INPUT_PIXELS})",
                i.width,
                i.height,
                i.width as u64 * i.height as u64
            ));
        }
        match (i.channels, i.color) {
            (1, None | Some(ColorOrder::Gray)) => {}
            (3, None | Some(ColorOrder::Rgb | ColorOrder::Bgr)) => {}
            (1 | 3, Some(c)) => {
                return bad(format!(
                    "color {} does not match channels = {} (gray needs 1 channel, rgb/bgr need 3)",
                    format!("{c:?}").to_lowercase(),
                    i.channels
                ))
            }
            (c, _) => return bad(format!("channels must be 1 (gray) or 3 (rgb/bgr), got {c}")),
        }
        if !i.scale.is_finite() || i.scale == 0.0 {
            return bad(format!("scale must be finite and non-zero, got {}", i.scale));
        }
        for (name, v) in [("mean", &i.mean), ("std", &i.std)] {
            if let Some(v) = v {
                if v.len() != i.channels {
                    return bad(format!("{name} has {} entries but the input has {} channel(s)", v.len(), i.channels));
                }
                if let Some(x) = v.iter().find(|x| !x.is_finite()) {
                    return bad(format!("{name} contains a non-finite value ({x})"));
                }
            }
        }
        if let Some(std) = &i.std {
            if let Some(k) = std.iter().position(|&s| s == 0.0) {
                return bad(format!("std[{k}] is 0 (division by zero)"));
            }
        }
        if let Resize::ShorterSide(s) = i.resize {
            if s == 0 || s as usize > MAX_INPUT_SIDE {
                return bad(format!("resize.shorter_side must be in 1..={MAX_INPUT_SIDE}, got {s}"));
            }
            if i.crop == Crop::None {
                return bad("resize {\"shorter_side\": ..} keeps the aspect ratio, so it needs crop \"center\" \
                     to reach width x height");
            }
            if (s as usize) < i.width.max(i.height) {
                return bad(format!(
                    "resize.shorter_side = {s} is smaller than a side of the input size {}x{}, so the \
                     center crop would not fit every image",
                    i.width, i.height
                ));
            }
        }
        if let Some([lo, hi]) = self.input_range {
            if !lo.is_finite() || !hi.is_finite() || lo > hi {
                return bad(format!(
                    "input_range must be two finite numbers [low, high] with low <= high, got [{lo}, {hi}]"
                ));
            }
        }
        if let Some(f) = &self.labels_file {
            let p = std::path::Path::new(f);
            if f.is_empty()
                || p.is_absolute()
                || f.starts_with('/')
                || f.starts_with('\\')
                || p.components().any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return bad(format!("labels_file must be a relative path inside the sidecar's directory, got '{f}'"));
            }
        }
        Ok(())
    }

    /// The colour order, with the default (gray for 1 channel, rgb for 3) filled in.
    pub fn color(&self) -> ColorOrder {
        self.input.color.unwrap_or(if self.input.channels == 1 { ColorOrder::Gray } else { ColorOrder::Rgb })
    }

    /// The per-channel mean (length C), defaults filled in.
    pub fn mean(&self) -> Vec<f64> {
        self.input.mean.clone().unwrap_or_else(|| vec![0.0; self.input.channels])
    }

    /// The per-channel std (length C), defaults filled in.
    pub fn std(&self) -> Vec<f64> {
        self.input.std.clone().unwrap_or_else(|| vec![1.0; self.input.channels])
    }

    /// The model input shape: `[1, C, H, W]` for NCHW, `[1, H, W, C]` for NHWC.
    pub fn input_shape(&self) -> Vec<usize> {
        let i = &self.input;
        match i.layout {
            Layout::Nchw => vec![1, i.channels, i.height, i.width],
            Layout::Nhwc => vec![1, i.height, i.width, i.channels],
        }
    }

    /// The smallest and largest value a preprocessed input can take: `input_range` if given,
    /// otherwise the min and max of `(p * scale - mean[c]) / std[c]` over p in {0, 255} and all
    /// channels (the map is affine, so the extremes are at the end points). Used as the `low` and
    /// `high` bounds of the LRP zB (box) rule.
    pub fn input_range(&self) -> (f32, f32) {
        if let Some([lo, hi]) = self.input_range {
            return (lo, hi);
        }
        let (mean, std) = (self.mean(), self.std());
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for c in 0..self.input.channels {
            for p in [0.0, 255.0] {
                let x = (p * self.input.scale - mean[c]) / std[c];
                lo = lo.min(x);
                hi = hi.max(x);
            }
        }
        if !lo.is_finite() || !hi.is_finite() {
            return (0.0, 1.0);
        }
        (lo as f32, hi as f32)
    }

    /// The name of class `class`, if labels are known and the index is in range.
    pub fn label(&self, class: usize) -> Option<&str> {
        self.labels.as_ref()?.get(class).map(|s| s.as_str())
    }

    /// Sets `labels` from the content of the labels file: either a JSON list of strings, or plain
    /// text with one label per line (surrounding whitespace trimmed; a trailing empty line ignored;
    /// an optional UTF-8 byte-order mark skipped). Replaces any labels already present.
    pub fn resolve_labels_file(&mut self, bytes: &[u8]) -> Result<()> {
        self.labels = Some(parse_labels(bytes)?);
        Ok(())
    }

    /// Sensible defaults for a model without a sidecar, from its input shape.
    ///
    /// A rank-4 shape is read as NCHW if dimension 1 is 1 or 3, else as NHWC if dimension 3 is 1
    /// or 3. One channel gives `gray`, three give `rgb`; pixels are scaled to [0, 1] (`scale` =
    /// 1/255, mean 0, std 1; ImageNet mean/std is *not* assumed); the image is stretched to H x W
    /// with the bicubic filter. Unknown (0) or absurd spatial sizes become 224, and any other
    /// shape gives the 224x224 RGB NCHW default. No labels.
    pub fn default_for_input_shape(shape: &[usize]) -> Sidecar {
        let ok = |d: usize| if d == 0 || d > MAX_INPUT_SIDE { 224 } else { d };
        let (layout, c, h, w) = match shape {
            [_, c @ (1 | 3), h, w] => (Layout::Nchw, *c, ok(*h), ok(*w)),
            [_, h, w, c @ (1 | 3)] => (Layout::Nhwc, *c, ok(*h), ok(*w)),
            _ => (Layout::Nchw, 3, 224, 224),
        };
        Sidecar {
            name: None,
            input: InputSpec {
                width: w,
                height: h,
                channels: c,
                color: Some(if c == 1 { ColorOrder::Gray } else { ColorOrder::Rgb }),
                layout,
                resize: Resize::Stretch,
                filter: Filter::Bicubic,
                crop: Crop::Center,
                scale: 1.0 / 255.0,
                mean: Some(vec![0.0; c]),
                std: Some(vec![1.0; c]),
            },
            labels: None,
            labels_file: None,
            input_range: None,
            license: None,
            source: None,
            notes: Some("default: no sidecar was found for this model".into()),
        }
    }

    /// Reads the sidecar `M.json` next to the model `M.onnx` (same directory, same file stem) and,
    /// if it names a `labels_file` and has no inline `labels`, that file (relative to the
    /// sidecar). `Ok(None)` if there is no sidecar.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_for_model(model_path: &std::path::Path) -> Result<Option<Sidecar>> {
        find_sidecar(model_path, &[])
    }

    /// Reads a sidecar file and, if needed, its labels file (relative to the sidecar's directory).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(path: &std::path::Path) -> Result<Sidecar> {
        use crate::fsread::{check_beside, read_regular, MAX_TEXT_BYTES};
        let bytes = read_regular(path, MAX_TEXT_BYTES)
            .map_err(|e| Error::Sidecar(format!("cannot read {}: {e}", path.display())))?;
        let mut sc = Sidecar::from_json(&bytes)
            .map_err(|e| Error::Sidecar(format!("{}: {}", path.display(), strip_prefix(&e))))?;
        if sc.labels.is_none() {
            if let Some(f) = sc.labels_file.clone() {
                let dir = path.parent().unwrap_or(std::path::Path::new("."));
                let lp = dir.join(&f);
                let lb = check_beside(&f, &lp).and_then(|()| read_regular(&lp, MAX_TEXT_BYTES)).map_err(|e| {
                    Error::Sidecar(format!("{}: cannot read labels_file {}: {e}", path.display(), lp.display()))
                })?;
                sc.resolve_labels_file(&lb)
                    .map_err(|e| Error::Sidecar(format!("{}: {}", lp.display(), strip_prefix(&e))))?;
            }
        }
        Ok(sc)
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn strip_prefix(e: &Error) -> String {
    match e {
        Error::Sidecar(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Parses a labels file: a JSON list of strings, or text with one label per line.
pub fn parse_labels(bytes: &[u8]) -> Result<Vec<String>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| Error::Sidecar("the labels file is not valid UTF-8".into()))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let v: Vec<String> = serde_json::from_str(trimmed)
            .map_err(|e| Error::Sidecar(format!("the labels file is not a JSON list of strings: {e}")))?;
        if v.is_empty() {
            return bad("the labels file is an empty list");
        }
        return Ok(v);
    }
    let mut lines: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    if lines.is_empty() {
        return bad("the labels file is empty");
    }
    Ok(lines)
}

/// Same as [`Sidecar::load_for_model`]: reads `M.json` next to `M.onnx` (and its labels file);
/// `Ok(None)` if there is none.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_for_model(model_path: &std::path::Path) -> Result<Option<Sidecar>> {
    find_sidecar(model_path, &[])
}

/// Finds and loads the sidecar of a model: first `M.json` next to `M.onnx`, then `<dir>/M.json`
/// for each of `extra_dirs` in order (e.g. this repository's `models/` folder, whose sidecars
/// describe the ONNX files kept elsewhere). The labels file is resolved relative to the sidecar
/// that was found. `Ok(None)` if none exists; a sidecar that exists but is malformed is an error.
#[cfg(not(target_arch = "wasm32"))]
pub fn find_sidecar(model_path: &std::path::Path, extra_dirs: &[&std::path::Path]) -> Result<Option<Sidecar>> {
    let stem = match model_path.file_stem() {
        Some(s) => s.to_os_string(),
        None => return Ok(None),
    };
    let mut file = stem;
    file.push(".json");
    let mut candidates = vec![model_path.with_file_name(&file)];
    candidates.extend(extra_dirs.iter().map(|d| d.join(&file)));
    for c in candidates {
        // a model called `M.json` would be its own sidecar: never read the model as JSON
        if c == model_path {
            continue;
        }
        if c.is_file() {
            return Sidecar::load(&c).map(Some);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LITE0: &str = r#"{ "name": "x", "input": { "width": 224, "height": 224, "channels": 3,
        "color": "rgb", "layout": "nchw", "resize": { "shorter_side": 256 }, "filter": "bicubic",
        "crop": "center", "scale": 1.0, "mean": [127, 127, 127], "std": [128, 128, 128] },
        "labels_file": "imagenet_categories.json" }"#;

    #[test]
    fn sidecar_parse_and_range() {
        let sc = Sidecar::from_json(LITE0.as_bytes()).unwrap();
        assert_eq!(sc.input_shape(), vec![1, 3, 224, 224]);
        assert_eq!(sc.input_range(), (-0.9921875, 1.0));
        assert_eq!(sc.input.resize, Resize::ShorterSide(256));
        let back = Sidecar::from_json(sc.to_json().as_bytes()).unwrap();
        assert_eq!(back, sc);
        assert_eq!(sc.label(0), None);
    }

    #[test]
    fn sidecar_minimal_defaults() {
        let sc = Sidecar::from_json(br#"{"input": {"width": 28, "height": 28, "channels": 1, "std": [255]}}"#).unwrap();
        assert_eq!(sc.color(), ColorOrder::Gray);
        assert_eq!(sc.input.resize, Resize::Stretch);
        assert_eq!(sc.input_range(), (0.0, 1.0));
        assert_eq!(sc.input_shape(), vec![1, 1, 28, 28]);
    }

    #[test]
    fn sidecar_validation_errors() {
        let cases = [
            r#"{"input": {"width": 0, "height": 28, "channels": 1}}"#,
            r#"{"input": {"width": 28, "height": 28, "channels": 2}}"#,
            r#"{"input": {"width": 28, "height": 28, "channels": 1, "color": "rgb"}}"#,
            r#"{"input": {"width": 28, "height": 28, "channels": 3, "mean": [1, 2]}}"#,
            r#"{"input": {"width": 28, "height": 28, "channels": 1, "std": [0]}}"#,
            r#"{"input": {"width": 28, "height": 28, "channels": 1, "stds": [1]}}"#,
            r#"{"input": {"width": 28, "height": 28, "channels": 1, "resize": "bogus"}}"#,
            r#"{"input": {"width": 28, "height": 28, "channels": 1, "resize": {"shorter_side": 10}}}"#,
            r#"{"input": {"width": 28, "height": 28, "channels": 1}, "labels_file": "../x.txt"}"#,
            r#"{"input": {"width": 28, "height": 28, "channels": 1}, "labels_file": "/etc/x"}"#,
            r#"{"input": {"width": 28, "height": 28, "channels": 1}, "input_range": [1, 0]}"#,
            r#"{"input": {"width": 28, "height": 28, "channels": 1, "scale": 0}}"#,
            r#"not json"#,
            r#""#,
        ];
        for c in cases {
            assert!(matches!(Sidecar::from_json(c.as_bytes()), Err(Error::Sidecar(_))), "{c}");
        }
    }

    #[test]
    fn sidecar_labels_files() {
        let mut sc = Sidecar::from_json(LITE0.as_bytes()).unwrap();
        sc.resolve_labels_file(br#"["a", "b"]"#).unwrap();
        assert_eq!(sc.label(1), Some("b"));
        assert_eq!(sc.label(2), None);
        sc.resolve_labels_file(b"\xEF\xBB\xBFzero\r\none\n\n").unwrap();
        assert_eq!(sc.labels.as_deref().unwrap(), &["zero".to_string(), "one".to_string()]);
        assert!(sc.resolve_labels_file(b"").is_err());
        assert!(sc.resolve_labels_file(b"[1, 2]").is_err());
        assert!(sc.resolve_labels_file(b"\xff\xfe").is_err());
    }

    #[test]
    fn sidecar_defaults_for_shapes() {
        let sc = Sidecar::default_for_input_shape(&[1, 1, 28, 28]);
        assert_eq!(sc.color(), ColorOrder::Gray);
        assert_eq!(sc.input_shape(), vec![1, 1, 28, 28]);
        assert_eq!(sc.input_range(), (0.0, 1.0));
        let sc = Sidecar::default_for_input_shape(&[1, 224, 200, 3]);
        assert_eq!(sc.input.layout, Layout::Nhwc);
        assert_eq!(sc.input_shape(), vec![1, 224, 200, 3]);
        let sc = Sidecar::default_for_input_shape(&[1, 3, 0, 0]);
        assert_eq!(sc.input_shape(), vec![1, 3, 224, 224]);
        let sc = Sidecar::default_for_input_shape(&[7]);
        assert_eq!(sc.input_shape(), vec![1, 3, 224, 224]);
        for s in [&[1usize, 1, 28, 28][..], &[1, 3, 5, 6], &[1, 8, 8, 3]] {
            Sidecar::default_for_input_shape(s).validate().unwrap();
        }
    }
}
