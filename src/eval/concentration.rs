//! Where relevance concentrates, layer by layer: the diagnosis behind `rlrp diagnose` (issue 12:
//! why R-LRP's EfficientNet maps put half of |R| into 1 % of the pixels). RLRP.md, "The R-LRP
//! linear rule": every linear layer hands on `λ · x ⊙ Wᵀ R`, so relevance is multiplied by the
//! layer's input activations at every layer it crosses; this module measures what that does.
//!
//! For one explanation it records, at the output of every node the walk reaches (before the
//! node's rule) and at the input: the share of |R| held by the largest 1 % of elements and of
//! spatial positions (|Σ_c R| per position, what the heatmap shows), and the Gini coefficient of
//! the same magnitudes. [`Step`]s say what each node's rule did to them (only where the node's
//! input is read by that node alone, so the relevance there is the rule's output and nothing else).
use crate::error::Result;
use crate::forward::Activations;
use crate::heatmap::channel_sum;
use crate::model::graph::{Graph, Linear, Op};
use crate::model::Model;
use crate::relevance::{self, channel_map, ExplainOptions, Explanation, Method};
use crate::sidecar::Layout;
use crate::tensor::Tensor;

/// How unevenly |values| are spread.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Concentration {
    /// Share of Σ|v| held by the largest ⌈n/100⌉ magnitudes (1/n for a constant, 1 for one spike).
    pub top1: f64,
    /// Gini coefficient of |v|: 0 when all are equal, (n − 1)/n when one holds everything.
    pub gini: f64,
    /// n, the number of values.
    pub count: usize,
}

/// The concentration of `|values|`; None when they are all zero (or empty), where it means nothing.
/// Non-finite values count as zero.
pub fn concentration(values: impl IntoIterator<Item = f32>) -> Option<Concentration> {
    let mut m: Vec<f64> = values.into_iter().map(|v| if v.is_finite() { (v as f64).abs() } else { 0.0 }).collect();
    let n = m.len();
    let total: f64 = m.iter().sum();
    if n == 0 || total <= 0.0 {
        return None;
    }
    m.sort_unstable_by(|a, b| a.total_cmp(b));
    let k = n.div_ceil(100);
    let top: f64 = m[n - k..].iter().sum();
    // Gini = Σ_i (2i − n − 1)·m_(i) / (n·Σm), i = 1..n over the ascending order.
    let weighted: f64 = m.iter().enumerate().map(|(i, &v)| (2.0 * (i + 1) as f64 - n as f64 - 1.0) * v).sum();
    Some(Concentration { top1: top / total, gini: weighted / (n as f64 * total), count: n })
}

/// A node's part in the network, for grouping: "first Conv", "Conv 1×1", "depthwise Conv 3×3",
/// "Conv 3×3", "skip Add", or the operator kind.
pub fn role(g: &Graph, ix: usize) -> String {
    let node = &g.nodes[ix];
    match &node.op {
        Op::Linear(Linear::Conv(c)) => {
            let gm = &c.geometry;
            let k = format!("{}×{}", gm.kernel_h, gm.kernel_w);
            if g.first_layers().contains(&ix) {
                format!("first Conv {k}")
            } else if gm.groups > 1 && gm.groups == gm.in_channels {
                format!("depthwise Conv {k}")
            } else {
                format!("Conv {k}")
            }
        }
        Op::Add { subtract: false } => "skip Add".to_string(),
        Op::Add { subtract: true } => "Sub".to_string(),
        Op::Activation(a) => a.name().to_string(),
        op => op.kind().to_string(),
    }
}

/// The concentration of the relevance at one node's output.
#[derive(Clone, Debug)]
pub struct LayerConcentration {
    /// Index into the graph's nodes.
    pub node: usize,
    /// Readable label ("Conv 12").
    pub label: String,
    pub role: String,
    pub shape: Vec<usize>,
    /// Over every element of the relevance tensor.
    pub elements: Option<Concentration>,
    /// Over the spatial positions of a [1, C, H, W] map, of |Σ_c R| (None for other shapes).
    pub positions: Option<Concentration>,
}

/// What one node's rule did: the concentration at its output and at (one of) its input(s).
#[derive(Clone, Debug)]
pub struct Step {
    pub node: usize,
    pub role: String,
    pub before: Concentration,
    pub after: Concentration,
}

/// The concentration profile of one explanation, from the logits down to the input.
#[derive(Clone, Debug)]
pub struct Profile {
    pub layers: Vec<LayerConcentration>,
    /// The input relevance over all its elements.
    pub input_elements: Option<Concentration>,
    /// The heatmap: |Σ_c R| per pixel of the input.
    pub pixels: Option<Concentration>,
    pub steps: Vec<Step>,
}

/// Explains `acts` with `method` and measures the concentration after every node.
pub fn profile(
    model: &Model,
    acts: &Activations,
    method: Method,
    options: &ExplainOptions,
    layout: Layout,
) -> Result<(Explanation, Profile)> {
    let g = &model.graph;
    let labels = g.labels();
    let mut layers = Vec::new();
    let mut observe = |ix: usize, r: &Tensor| {
        let positions = channel_map(r).and_then(|(_, _, m)| concentration(m));
        layers.push(LayerConcentration {
            node: ix,
            label: labels[ix].clone(),
            role: role(g, ix),
            shape: r.shape().to_vec(),
            elements: concentration(r.iter().copied()),
            positions,
        });
    };
    let e = relevance::explain_observed(model, acts, method, options, &mut |_, _| true, &mut observe)?;
    let input_elements = concentration(e.relevance.iter().copied());
    let pixels = concentration(channel_sum(&e.relevance, layout).2);
    let steps = steps(g, &layers, input_elements);
    Ok((e, Profile { layers, input_elements, pixels, steps }))
}

/// The steps of the nodes whose first computed input is read by them alone (or is the network
/// input): the relevance there is exactly what their rule produced.
fn steps(g: &Graph, layers: &[LayerConcentration], input: Option<Concentration>) -> Vec<Step> {
    let readers = g.reader_counts();
    let at_output = |v: usize| -> Option<Concentration> {
        if v == g.input {
            return input;
        }
        let producer = g.producer(v)?;
        layers.iter().find(|l| l.node == producer).and_then(|l| l.elements)
    };
    let mut out = Vec::new();
    for l in layers {
        let node = &g.nodes[l.node];
        let Some(&v) = node.inputs.first() else { continue };
        if readers[v] != 1 {
            continue;
        }
        if let (Some(before), Some(after)) = (l.elements, at_output(v)) {
            out.push(Step { node: l.node, role: l.role.clone(), before, after });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        let c = concentration(vec![2.0; 200]).unwrap();
        assert!((c.top1 - 0.01).abs() < 1e-12 && c.gini.abs() < 1e-12, "{c:?}");
        let mut spike = vec![0.0f32; 100];
        spike[37] = -5.0;
        let c = concentration(spike).unwrap();
        assert_eq!(c.top1, 1.0);
        assert!((c.gini - 0.99).abs() < 1e-12, "{c:?}");
        // 1, 2, 3, 4: Gini = Σ|xi − xj| / (2 n² mean) = 20 / (2·16·2.5) = 0.25; top ⌈4/100⌉ = 1 value.
        let c = concentration(vec![4.0, -1.0, 3.0, 2.0]).unwrap();
        assert!((c.gini - 0.25).abs() < 1e-12 && (c.top1 - 0.4).abs() < 1e-12, "{c:?}");
        assert!(concentration(vec![0.0; 10]).is_none());
        assert!(concentration(Vec::<f32>::new()).is_none());
        // 101 values: the top ⌈1.01⌉ = 2 count.
        let mut v = vec![1.0f32; 99];
        v.extend([50.0, 50.0]);
        assert!((concentration(v).unwrap().top1 - 100.0 / 199.0).abs() < 1e-12);
    }
}
