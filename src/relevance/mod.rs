//! The relevance pass: one reverse walk of the graph ([`walk`]), parametrised by a [`Method`]
//! (its rule per layer: [`composite`]), whose linear layers use the rules of [`rules`] on the kernels of [`linear`].
pub mod composite;
pub mod linear;
pub mod non_finite;
pub mod ops;
pub mod rules;
pub mod walk;

pub use crate::method::{Family, Method, MethodParams};
pub use crate::report::LayerMass;
pub use walk::{Observer, Progress};

use crate::error::{Error, Result};
use crate::forward::Activations;
use crate::model::Model;
use crate::tensor::{ndarray, Tensor};

/// One explanation: the input relevance and the numbers behind it.
#[derive(Clone, Debug)]
pub struct Explanation {
    pub method: Method,
    pub target: usize,
    /// f_c(x): the target's logit.
    pub logit: f32,
    /// The relevance put on the target logit: |f_c(x)| for R-LRP (1 if f_c(x) = 0), f_c(x) for LRP
    /// rules, 1 for gradients.
    pub start: f32,
    /// κ = ΣR_input / f_c(x) (RLRP.md); None when f_c(x) = 0.
    pub kappa: Option<f64>,
    /// Relevance of every input element (input shape, e.g. [1, 3, 224, 224]).
    pub relevance: Tensor,
    /// ‖R‖₁ after every node, from the logits down to the input.
    pub layers: Vec<LayerMass>,
    /// Channel-summed relevance maps of the intermediate feature maps (only if requested).
    pub layer_maps: Vec<(String, String, usize, usize, Vec<f32>)>,
    /// Number of non-finite values that were found in the result (and set to zero).
    pub non_finite: usize,
    /// Why the explanation cannot be trusted, when it cannot: non-finite values (where they first
    /// appeared, and why) or a map that is zero everywhere (where the relevance vanished).
    pub warning: Option<String>,
}

/// Options of one explanation.
#[derive(Clone, Debug, Default)]
pub struct ExplainOptions {
    /// Target class (None = the predicted class).
    pub target: Option<usize>,
    pub params: MethodParams,
    /// Keep channel-summed relevance maps of intermediate layers.
    pub keep_layer_maps: bool,
}

/// Sums a feature map [1, C, H, W] over channels: (H, W, values); None for other shapes.
pub fn channel_map(t: &Tensor) -> Option<(usize, usize, Vec<f32>)> {
    let s = t.shape();
    if s.len() != 4 || s[0] != 1 {
        return None;
    }
    let (c, h, w) = (s[1], s[2], s[3]);
    let mut out = vec![0f32; h * w];
    let data = t.as_slice()?;
    for ch in 0..c {
        for (o, v) in out.iter_mut().zip(&data[ch * h * w..(ch + 1) * h * w]) {
            *o += v;
        }
    }
    Some((h, w, out))
}

/// Index of the largest logit (first on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Explains the forward pass `acts` of `model` with `method`.
pub fn explain(
    model: &Model,
    acts: &Activations,
    method: Method,
    options: &ExplainOptions,
    progress: Progress,
) -> Result<Explanation> {
    explain_observed(model, acts, method, options, progress, &mut |_, _| {})
}

/// [`explain`], showing `observe` the relevance at the output of every node on the way down
/// (node index into `model.graph.nodes`, relevance): for diagnostics such as
/// [`crate::eval::concentration`].
pub fn explain_observed(
    model: &Model,
    acts: &Activations,
    method: Method,
    options: &ExplainOptions,
    progress: Progress,
    observe: Observer,
) -> Result<Explanation> {
    options.params.validate()?;
    if !acts.keep().serves(method) {
        return Err(Error::Request(format!(
            "this forward pass kept only what R-LRP reads; {} needs one that keeps every activation",
            method.name()
        )));
    }
    let logits = model.logits(acts)?;
    let target = options.target.unwrap_or_else(|| argmax(logits));
    if target >= logits.len() {
        return Err(Error::Request(format!(
            "class {target} does not exist: the model has {} classes (0..{})",
            logits.len(),
            logits.len() - 1
        )));
    }
    let logit = logits[target];
    if !logit.is_finite() {
        let origin = non_finite::forward_origin(&model.graph, acts).map(|o| format!("; {o}")).unwrap_or_default();
        return Err(Error::NonFinite(format!("the logit of class {target} is {logit}{origin}")));
    }
    let start = match method.family() {
        // RLRP.md, "Start": R = |f_c(x)|·onehot(c), M = 1 when f_c(x) = 0.
        Family::Rlrp { .. } => {
            if logit == 0.0 {
                1.0
            } else {
                logit.abs()
            }
        }
        Family::Lrp => logit,
        Family::Gradient => 1.0,
    };
    let out_shape = &model.graph.values[model.graph.output].shape;
    let mut start_tensor = Tensor::zeros(ndarray::IxDyn(out_shape));
    start_tensor.as_slice_mut().expect("fresh tensor")[target] = start;
    let labels = if options.keep_layer_maps { model.graph.labels() } else { Vec::new() };
    let mut layer_maps = Vec::new();
    let mut observe_and_keep = |ix: usize, r: &Tensor| {
        if options.keep_layer_maps {
            if let Some((h, w, m)) = channel_map(r) {
                layer_maps.push((model.graph.nodes[ix].name.clone(), labels[ix].clone(), h, w, m));
            }
        }
        observe(ix, r);
    };
    let result =
        walk::walk(&model.graph, acts, start_tensor, method, &options.params, &mut observe_and_keep, progress)?;
    let mut relevance = result.input_relevance;
    if method == Method::GradientXInput {
        let x = acts.get(model.graph.input).ok_or_else(|| Error::Engine("input missing".into()))?;
        relevance.zip_mut_with(&x, |r, &xv| *r *= xv);
    }
    // Never hand out a NaN heatmap: count and zero non-finite values (R-LRP must have none: tested).
    let mut non_finite = 0;
    relevance.mapv_inplace(|v| {
        if v.is_finite() {
            v
        } else {
            non_finite += 1;
            0.0
        }
    });
    let mut layers = result.layers;
    if let Some(last) = layers.last_mut() {
        last.l1 = rules::l1(&relevance);
    }
    let warning = if non_finite > 0 {
        let at = match &result.first_non_finite {
            Some(o) => o.to_string(),
            None => "in the input layer's product with the input".to_string(),
        };
        let input = acts.get(model.graph.input).and_then(|x| non_finite::input_note(&x));
        Some(format!(
            "{non_finite} of {} input relevance values were non-finite and are shown as zero: {at}{}",
            relevance.len(),
            input.map(|n| format!("; {n}")).unwrap_or_default()
        ))
    } else {
        non_finite::vanished(&model.graph, acts, &layers)
    };
    let total: f64 = relevance.iter().map(|&v| v as f64).sum();
    let kappa = (logit != 0.0).then(|| total / logit as f64);
    if let Some(last) = layers.last_mut() {
        last.sum = total;
    }
    Ok(Explanation { method, target, logit, start, kappa, relevance, layers, layer_maps, non_finite, warning })
}
