//! The end-to-end pipeline shared by the command line and the browser: predictions, an explanation,
//! and the report of numbers behind the picture.
use crate::error::Result;
use crate::forward::Activations;
use crate::heatmap::{self, HeatmapStyle};
use crate::model::Model;
use crate::relevance::{self, ExplainOptions, Explanation, Method, MethodParams};
use crate::report::{top_k, Report, Timings};
use crate::sidecar::{Layout, Sidecar};

// The report is plain data (crate::report, shared with the page); building it needs the engine.
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
            warning: e.warning.clone(),
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

/// The heatmap of an explanation: (height, width, channel-summed relevance, clip value, picture).
pub fn heatmap(
    e: &Explanation,
    layout: Layout,
    style: &HeatmapStyle,
) -> (usize, usize, Vec<f32>, f32, image::RgbaImage) {
    let (h, w, values) = heatmap::channel_sum(&e.relevance, layout);
    let (scale, img) = heatmap::paint(h, w, &values, style);
    (h, w, values, scale.clip, img)
}
