//! The numbers behind a picture: predictions, per-layer relevance mass, the facts of a model and
//! the report of one explanation. Computed by the engine, shown by the page and the command line.
use crate::method::{Method, MethodParams};
use crate::sidecar::Sidecar;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One class of the prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    pub class: usize,
    pub label: Option<String>,
    pub logit: f32,
    pub probability: f32,
}

/// Numerically stable softmax (f64 accumulation).
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = logits.iter().map(|&l| ((l - max) as f64).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / total) as f32).collect()
}

/// The k most probable classes, best first.
pub fn top_k(logits: &[f32], k: usize, sidecar: Option<&Sidecar>) -> Vec<ClassScore> {
    let probs = softmax(logits);
    let mut order: Vec<usize> = (0..logits.len()).collect();
    // a total order (ties by index), so the unstable sort gives the stable one's result with one
    // instantiation of the sort less in the worker
    order.sort_unstable_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(k)
        .map(|c| ClassScore {
            class: c,
            label: sidecar.and_then(|s| s.label(c)).map(str::to_string),
            logit: logits[c],
            probability: probs[c],
        })
        .collect()
}

/// Wall-clock timings in milliseconds (measured by the caller: `Instant` does not exist in browsers).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Timings {
    pub load_ms: f64,
    pub preprocess_ms: f64,
    pub forward_ms: f64,
    pub relevance_ms: f64,
}

/// Facts about a loaded model, for display.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelInfo {
    pub input_name: String,
    pub input_shape: Vec<usize>,
    pub output_name: String,
    pub classes: usize,
    pub opset: i64,
    pub producer: String,
    /// ONNX operators on the explained path and how often each occurs.
    pub operators: BTreeMap<String, usize>,
    /// Number of Conv/Dense layers after canonisation.
    pub weighted_layers: usize,
}

/// The relevance mass after one node (RLRP.md: "‖R‖₁ after every layer").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerMass {
    /// Node name ("input" for the network input).
    pub node: String,
    /// A readable label: the layer's kind and index ("Conv 12", "SiLU 3"; "Input").
    #[serde(default)]
    pub label: String,
    /// ONNX operator(s) of the node.
    pub op: String,
    pub shape: Vec<usize>,
    /// ‖R‖₁ of the relevance at the node's output.
    pub l1: f64,
    /// ΣR at the node's output.
    pub sum: f64,
}

/// Everything behind one heatmap, serialisable as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub model: String,
    pub input_shape: Vec<usize>,
    pub method: Method,
    pub method_label: String,
    pub params: MethodParams,
    pub target: usize,
    pub target_label: Option<String>,
    pub logit: f32,
    /// Relevance put on the target logit (M for R-LRP).
    pub start: f32,
    /// κ = ΣR_input / f_c(x).
    pub kappa: Option<f64>,
    pub relevance_sum: f64,
    pub relevance_l1: f64,
    pub non_finite: usize,
    /// Where and why non-finite values first appeared (they are shown as zero), when there were any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    pub top: Vec<ClassScore>,
    pub layers: Vec<LayerMass>,
    pub timings: Timings,
}
