//! The end-to-end pipeline shared by the command line and the browser: predictions, an explanation,
//! and the report of numbers behind the picture.
use crate::error::Result;
use crate::forward::Activations;
use crate::heatmap::{self, Colormap, ScaleMode};
use crate::model::Model;
use crate::relevance::{self, ExplainOptions, Explanation, LayerMass, Method, MethodParams};
use crate::sidecar::{Layout, Sidecar};
use serde::{Deserialize, Serialize};

/// One class of the prediction.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
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
    pub top: Vec<ClassScore>,
    pub layers: Vec<LayerMass>,
    pub timings: Timings,
}

impl Report {
    pub fn new(
        model_name: &str,
        model: &Model,
        acts: &Activations,
        e: &Explanation,
        sidecar: Option<&Sidecar>,
        params: &MethodParams,
    ) -> Result<Report> {
        let logits = model.logits(acts)?;
        let input = e.layers.last();
        Ok(Report {
            model: model_name.to_string(),
            input_shape: model.input_shape().to_vec(),
            method: e.method,
            method_label: e.method.label().to_string(),
            params: params.clone(),
            target: e.target,
            target_label: sidecar.and_then(|s| s.label(e.target)).map(str::to_string),
            logit: e.logit,
            start: e.start,
            kappa: e.kappa,
            relevance_sum: input.map(|l| l.sum).unwrap_or(0.0),
            relevance_l1: input.map(|l| l.l1).unwrap_or(0.0),
            non_finite: e.non_finite,
            top: top_k(logits, 5, sidecar),
            layers: e.layers.clone(),
            timings: Timings::default(),
        })
    }
}

/// Explanation options with the z^B bounds taken from the sidecar (the preprocessed input range).
pub fn options_for(target: Option<usize>, mut params: MethodParams, sidecar: Option<&Sidecar>) -> ExplainOptions {
    if params.input_range.is_none() {
        params.input_range = sidecar.map(|s| s.input_range());
    }
    ExplainOptions { target, params, keep_layer_maps: false }
}

/// Runs one explanation of an already-computed forward pass.
pub fn explain(model: &Model, acts: &Activations, method: Method, options: &ExplainOptions) -> Result<Explanation> {
    relevance::explain(model, acts, method, options, &mut |_, _| true)
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

/// The heatmap of an explanation: (height, width, channel-summed relevance, clip value, picture).
pub fn heatmap(
    e: &Explanation,
    layout: Layout,
    style: &HeatmapStyle,
) -> (usize, usize, Vec<f32>, f32, image::RgbaImage) {
    let (h, w, values) = heatmap::channel_sum(&e.relevance, layout);
    let (clip, img) = paint(h, w, &values, style);
    (h, w, values, clip, img)
}

/// The colour picture of a channel-summed relevance map (h × w values) and the |R| at which its
/// colour scale saturates. The command line and the page both draw with this.
pub fn paint(h: usize, w: usize, values: &[f32], style: &HeatmapStyle) -> (f32, image::RgbaImage) {
    let clip = heatmap::percentile_abs(values, style.clip_percentile);
    (clip, heatmap::render(h, w, values, style.colormap, style.mode, clip))
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
    heatmap::alpha_by_magnitude(&mut heat, values, style.mode, clip);
    (clip, heatmap::overlay(base, &heat, opacity))
}
