//! What the page holds: the sources it can replay to a fresh worker, the keys that say which
//! explanation is wanted or shown, and the worker's answers.
use crate::app::protocol::LayerMapInfo;
use crate::method::{Family, Method, MethodParams};
use crate::report::{ClassScore, Report};
use crate::sidecar::Sidecar;
use std::rc::Rc;

/// A model the page can (re)load into a worker.
#[derive(Debug)]
pub struct ModelSource {
    /// Changes whenever the model or its preprocessing changes.
    pub generation: u64,
    /// Display name (the bundle's name, or the user's file name); also the name sent to the worker.
    pub name: String,
    /// The id in bundle.json (None = a user model).
    pub bundle_id: Option<String>,
    pub onnx: Rc<Vec<u8>>,
    pub sidecar: Option<Sidecar>,
    pub sidecar_json: Option<String>,
    pub labels: Option<String>,
    /// Sample image URLs (bundled models).
    pub samples: Vec<String>,
}

/// An image the page can (re)send to a worker.
#[derive(Debug)]
pub struct ImageSource {
    pub generation: u64,
    /// File name (shown, and the heatmap's `data-image`).
    pub name: String,
    pub bytes: Rc<Vec<u8>>,
    /// The URL of a bundled sample.
    pub url: Option<String>,
}

/// The image the worker has preprocessed, as it answered.
pub struct ImageInfo {
    pub generation: u64,
    pub name: String,
    pub top: Vec<ClassScore>,
    pub classes: usize,
    pub display: Rc<image::RgbImage>,
}

impl ImageInfo {
    pub fn predicted(&self) -> usize {
        self.top.first().map(|c| c.class).unwrap_or(0)
    }
}

/// The method settings chosen in the page.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub method: Method,
    pub params: MethodParams,
    /// None = the predicted class.
    pub target: Option<usize>,
    /// Methods shown beside the first (at most [`MAX_COMPARE`], in the order picked).
    pub compare: Vec<Method>,
}

/// The most methods shown beside the main one (four maps in all).
pub const MAX_COMPARE: usize = 3;

impl Default for Settings {
    fn default() -> Self {
        Settings { method: Method::Rlrp, params: MethodParams::default(), target: None, compare: Vec::new() }
    }
}

impl Settings {
    /// Adds `m` to the compared methods, or removes it if it is there; the main method and a full
    /// set are left as they are. Returns whether anything changed.
    pub fn toggle_compare(&mut self, m: Method) -> bool {
        if let Some(i) = self.compare.iter().position(|c| *c == m) {
            self.compare.remove(i);
            true
        } else if m != self.method && self.compare.len() < MAX_COMPARE {
            self.compare.push(m);
            true
        } else {
            false
        }
    }
}

/// How the heatmaps are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HeatView {
    /// The heatmap alone (white = 0), the image in its own tile beside it.
    #[default]
    Beside,
    /// The heatmap blended over the image (opacity 0 = the image, 1 = the heatmap).
    Overlay,
}

/// Whether a method reads the stabiliser (every classical LRP method: the Norm rule at skips and
/// average pooling, and the z⁺, αβ, γ, flat, w², z^B rules).
pub fn uses_stabilizer(method: Method) -> bool {
    matches!(method.family(), Family::Lrp)
}

/// The parameters with the ones `method` does not read reset to their defaults, so that editing an
/// unused parameter does not count as a new explanation.
pub fn normalized(method: Method, params: &MethodParams) -> MethodParams {
    let d = MethodParams::default();
    let uses = method.uses();
    MethodParams {
        epsilon: if uses.contains(&"epsilon") { params.epsilon } else { d.epsilon },
        gamma: if uses.contains(&"gamma") { params.gamma } else { d.gamma },
        alpha: if uses.contains(&"alpha") { params.alpha } else { d.alpha },
        beta: if uses.contains(&"beta") { params.beta } else { d.beta },
        stabilizer: if uses_stabilizer(method) { params.stabilizer } else { d.stabilizer },
        input_range: None,
    }
}

/// One explanation: of which model and image, by which method, for which class.
#[derive(Clone, Debug, PartialEq)]
pub struct ExplainKey {
    pub model: u64,
    pub image: u64,
    pub method: Method,
    pub params: MethodParams,
    pub target: usize,
}

/// Where an explanation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Main,
    Compare,
}

/// One request to the worker, as the page tracks it.
#[derive(Clone, Debug, PartialEq)]
pub enum Job {
    LoadModel(u64),
    SetImage(u64),
    Explain(Slot, ExplainKey),
    Faithfulness(ExplainKey),
}

impl Job {
    pub fn describe(&self) -> String {
        match self {
            Job::LoadModel(_) => "loading the model".into(),
            Job::SetImage(_) => "preparing the image".into(),
            Job::Explain(_, k) => format!("explaining with {}", k.method.label()),
            Job::Faithfulness(_) => "pixel flipping".into(),
        }
    }
}

/// An explanation as shown.
pub struct Shown {
    pub key: ExplainKey,
    pub image_name: String,
    pub report: Report,
    /// Channel-summed input relevance (height × width).
    pub values: Vec<f32>,
    pub npy: Vec<u8>,
    pub layer_maps: Vec<(LayerMapInfo, Vec<f32>)>,
}

/// A pixel-flipping result.
pub struct Faith {
    pub key: ExplainKey,
    pub patch: usize,
    pub patches: usize,
    pub steps: usize,
    pub morf: Vec<f32>,
    pub random: Vec<f32>,
    pub aopc_morf: f64,
    pub aopc_random: f64,
}

/// Progress of the running request.
#[derive(Clone, Debug, PartialEq)]
pub struct Busy {
    pub stage: String,
    pub done: usize,
    pub total: usize,
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
