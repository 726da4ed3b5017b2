//! Messages between the page and the worker. Each message is `{ id, body }` where `body` is JSON of
//! [`Request`] / [`Response`] and large byte payloads travel beside it as a list of byte arrays
//! (`data`), described by each variant's documentation.
use crate::method::{Method, MethodParams};
use crate::report::{ClassScore, ModelInfo, Report};
use crate::sidecar::Sidecar;
use serde::{Deserialize, Serialize};

/// A request from the page. Every request has an id; responses echo it.
// One request lives at a time and is serialised once: the size of its largest variant is no cost.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Load a model; `data[0]` = the ONNX bytes, `data[1..]` = the files named in `external`
    /// (weights kept beside the model: ONNX external data). `sidecar` (if given) says how to
    /// preprocess; else `sidecar_json` (the text of an `M.json` file); else defaults from the input
    /// shape. `labels` = the text of a labels file (JSON list or one label per line).
    LoadModel {
        name: String,
        #[serde(default)]
        external: Vec<String>,
        #[serde(default)]
        sidecar: Option<Sidecar>,
        #[serde(default)]
        sidecar_json: Option<String>,
        #[serde(default)]
        labels: Option<String>,
    },
    /// Decode, preprocess and run the forward pass on an image; `data[0]` = the encoded file.
    SetImage { name: String },
    /// Explain the current image.
    Explain {
        method: Method,
        #[serde(default)]
        params: MethodParams,
        /// Target class (None = the predicted one).
        #[serde(default)]
        target: Option<usize>,
    },
    /// Region perturbation (pixel flipping) of the current image with the heatmap of `method`.
    Faithfulness {
        method: Method,
        #[serde(default)]
        params: MethodParams,
        #[serde(default)]
        target: Option<usize>,
    },
}

/// Where the preprocessing of a loaded model came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SidecarSource {
    /// Given by the page (the form, or a bundled model's sidecar).
    Given,
    /// Read from a sidecar file.
    File,
    /// Defaults from the model's input shape: the page should offer the form.
    Defaults,
}

/// What the worker is doing, for the progress indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    LoadingModel,
    /// The model planned again for a method that reads more of the forward pass than R-LRP.
    Planning,
    Preprocessing,
    Forward,
    /// Relevance: `done` of `total` nodes.
    Relevance,
    /// Pixel flipping: `done` of `total` forward passes.
    Faithfulness,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::LoadingModel => "loading model",
            Stage::Planning => "preparing this method",
            Stage::Preprocessing => "decoding image",
            Stage::Forward => "forward pass",
            Stage::Relevance => "relevance",
            Stage::Faithfulness => "pixel flipping",
        }
    }
}

/// One intermediate relevance map (channel-summed), sent in `data`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerMapInfo {
    pub node: String,
    /// The layer's readable label ("Conv 12").
    #[serde(default)]
    pub label: String,
    pub height: usize,
    pub width: usize,
}

/// A message from the worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// The worker has started and takes requests.
    Ready,
    /// The engine panicked (the worker is built with `panic = "abort"`, so it stops right after
    /// saying this): the panic's message and place, for the page to tell the user.
    Panicked {
        message: String,
    },
    Progress {
        stage: Stage,
        done: usize,
        total: usize,
    },
    ModelLoaded {
        name: String,
        info: ModelInfo,
        /// The preprocessing in force (from the file, the page, or defaults).
        sidecar: Sidecar,
        sidecar_source: SidecarSource,
        load_ms: f64,
    },
    /// The image is ready; `data[0]` = the preprocessed picture as RGB bytes (height × width × 3).
    ImageReady {
        name: String,
        width: usize,
        height: usize,
        /// The five most probable classes.
        top: Vec<ClassScore>,
        classes: usize,
        preprocess_ms: f64,
        forward_ms: f64,
    },
    /// An explanation: `data[0]` = the channel-summed relevance (height × width little-endian f32),
    /// `data[1]` = the input relevance as `.npy`, `data[2 + i]` = layer map `i` (f32, as `layer_maps[i]`).
    Explained {
        report: Report,
        width: usize,
        height: usize,
        layer_maps: Vec<LayerMapInfo>,
    },
    /// Pixel flipping: the target logit as the most relevant patches are removed first (`morf`) and
    /// in random order (`random`, mean of seeded orders), at the steps `points` (of `0..=steps`).
    /// A large model answers twice: first `complete: false` with every few steps (and the first
    /// random order only) while the rest is measured, then `complete: true` with all `steps + 1`.
    Faithfulness {
        method: Method,
        target: usize,
        /// Side of the square patches, in pixels.
        patch: usize,
        /// Patches of the input in all.
        patches: usize,
        steps: usize,
        /// The steps (patches removed) that `morf` and `random` are at, increasing.
        points: Vec<usize>,
        /// Whether this is the final answer (else a coarse look, the final one follows).
        complete: bool,
        morf: Vec<f32>,
        random: Vec<f32>,
        /// Area over the perturbation curve, most relevant first (higher = more faithful).
        aopc_morf: f64,
        aopc_random: f64,
        /// How many of the run's forward passes the helper worker computed (0 without one).
        #[serde(default)]
        helper_passes: usize,
    },
    /// The request failed; the worker's state (model, image) is as it was before it.
    Error {
        message: String,
    },
}

/// A message from the engine's worker to its helper worker, a second worker that computes some of
/// pixel flipping's forward passes (from the end of the run's list, while the engine's worker goes
/// from the start).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HelperRequest {
    /// Compute `passes` (in that order) until told to stop: `data[0]` = the input and `data[1]` =
    /// what removed patches become (both f32, little-endian, of `input_shape`); `data[2]` = the
    /// ONNX bytes of model `model`, unless this helper was sent that model before.
    Job {
        job: u64,
        model: u64,
        input_shape: Vec<usize>,
        /// The model's output (logits) tensor and its number of classes.
        output: String,
        classes: usize,
        /// Side of the square patches, in pixels.
        patch: usize,
        /// Patch orders, by index.
        orders: Vec<Vec<usize>>,
        passes: Vec<HelperPass>,
        /// Where consecutive passes may be cropped: the wire form of the engine's
        /// `forward::incremental::spec::IncrementalSpec` (none when both are empty).
        #[serde(default)]
        crop_names: Vec<String>,
        #[serde(default)]
        crop_numbers: Vec<usize>,
    },
    /// The engine's worker has pass `index` of job `job`: the helper skips it.
    Done { job: u64, index: usize },
    /// Stop computing job `job` (the engine's worker has every pass).
    Stop { job: u64 },
}

/// One forward pass of a pixel-flipping run: the input with the first `k` patches of order `order`
/// removed; `index` is its place in the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperPass {
    pub index: usize,
    pub order: usize,
    pub k: usize,
}

/// A message from the helper worker to the engine's worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HelperReply {
    /// The helper has started and takes jobs.
    Ready,
    /// The helper starts pass `index` of job `job`: the engine's worker leaves it while others
    /// remain.
    Taking { job: u64, index: usize },
    /// Pass `index` of job `job`: `data[0]` = its logits (f32, little-endian).
    Logits { job: u64, index: usize },
    /// The helper cannot compute job `job` (the engine's worker computes every pass itself).
    Failed { job: u64, message: String },
}

/// f32 values as little-endian bytes (for `data`).
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian bytes back to f32 values (a trailing partial value is ignored).
pub fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}
