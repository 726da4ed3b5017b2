//! Where a non-finite value (NaN, ±∞) first appeared, and why, so that a broken explanation is
//! reported instead of painted as a blank map: in the forward pass (the first activation that holds
//! one) and in the relevance walk (the first layer whose rule produced one). Likewise where the
//! relevance vanished, for a map that is zero everywhere. RLRP.md, "Properties":
//! R-LRP's relevance is finite wherever the forward pass is; when it is not, the input or the
//! weights are outside what float32 can carry, and the message says which.
use crate::forward::Activations;
use crate::kernels::elementwise::count_non_finite;
use crate::model::graph::Graph;
use crate::report::LayerMass;
use crate::tensor::TensorRef;

/// The first place a non-finite value appeared.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    /// The layer's readable label ("Conv 1").
    pub label: String,
    /// The ONNX node's name.
    pub node: String,
    /// How many values of that layer's result are non-finite.
    pub count: usize,
    /// Why, in words.
    pub reason: String,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "first at {} (node '{}', {} values): {}", self.label, self.node, self.count, self.reason)
    }
}

/// Non-finite values in `t`.
pub fn count(t: &TensorRef) -> usize {
    match t.as_slice() {
        Some(s) => count_non_finite(s),
        None => t.iter().filter(|v| !v.is_finite()).count(),
    }
}

/// The largest |value| of `t`, ignoring non-finite values (0 for an empty tensor).
fn max_abs(t: &TensorRef) -> f32 {
    t.iter().filter(|v| v.is_finite()).fold(0f32, |m, v| m.max(v.abs()))
}

/// Why node `ix` turned finite values into non-finite ones, judged from the values entering it.
fn reason(g: &Graph, acts: &Activations, ix: usize, dividing: bool) -> String {
    let node = &g.nodes[ix];
    let Some(x) = node.inputs.first().and_then(|&v| acts.get(v)) else {
        return "its result overflows or divides by zero".into();
    };
    let m = max_abs(&x);
    if count(&x) > 0 {
        format!("the values entering it are already non-finite ({} of them)", count(&x))
    } else if m < f32::MIN_POSITIVE {
        format!(
            "the values entering it are all zero or subnormal (largest |x| = {m:e}), so {}",
            if dividing { "its relevance ratios divide by zero" } else { "nothing can be attributed" }
        )
    } else if m > 1e30 {
        format!("the values entering it are beyond what float32 can carry (largest |x| = {m:e}): they overflow")
    } else if dividing {
        format!(
            "a denominator of its rule is zero or overflows (largest |x| entering it = {m:e}); a larger \
             stabiliser (ε) may help"
        )
    } else {
        format!("its weights make the result overflow (largest |x| entering it = {m:e})")
    }
}

/// Describes what is wrong with the network input, if anything explains a non-finite result.
pub fn input_note(input: &TensorRef) -> Option<String> {
    let subnormal = input.iter().filter(|v| **v != 0.0 && v.abs() < f32::MIN_POSITIVE).count();
    (subnormal > 0).then(|| format!("the input has {subnormal} subnormal values (0 < |x| < {:e})", f32::MIN_POSITIVE))
}

/// The first activation of the forward pass that holds a non-finite value, in evaluation order.
pub fn forward_origin(g: &Graph, acts: &Activations) -> Option<Origin> {
    let labels = g.labels();
    g.nodes.iter().enumerate().find_map(|(ix, n)| {
        let t = acts.get(n.output)?;
        let bad = count(&t);
        (bad > 0).then(|| Origin {
            label: labels[ix].clone(),
            node: n.name.clone(),
            count: bad,
            reason: reason(g, acts, ix, false),
        })
    })
}

/// The origin of non-finite relevance that node `ix`'s rule produced (`count` values) from finite
/// relevance; `dividing`: the rule divides (the LRP rules, R-LRP), unlike a gradient.
pub fn relevance_origin(g: &Graph, acts: &Activations, ix: usize, count: usize, dividing: bool) -> Origin {
    Origin {
        label: g.labels()[ix].clone(),
        node: g.nodes[ix].name.clone(),
        count,
        reason: reason(g, acts, ix, dividing),
    }
}

/// For a map that is zero everywhere: the layer below which the relevance vanished (its ‖R‖₁ went
/// from non-zero to zero), and why. `layers` run from the logits down to the input, as the walk
/// records them.
pub fn vanished(g: &Graph, acts: &Activations, layers: &[LayerMass]) -> Option<String> {
    if layers.last().is_none_or(|input| input.l1 != 0.0) {
        return None;
    }
    let k = layers.iter().position(|l| l.l1 == 0.0)?;
    let Some(above) = k.checked_sub(1).map(|i| &layers[i]) else {
        return Some("the relevance is zero everywhere: the start relevance at the logits is zero".into());
    };
    let why = match g.nodes.iter().position(|n| n.name == above.node) {
        Some(ix) => {
            let x = g.nodes[ix].inputs.first().and_then(|&v| acts.get(v));
            match x.map(|x| max_abs(&x)) {
                Some(m) if m < f32::MIN_POSITIVE => {
                    format!("the values entering it are all zero or subnormal (largest |x| = {m:e})")
                }
                _ => "its rule gives every input zero relevance".to_string(),
            }
        }
        None => "its rule gives every input zero relevance".to_string(),
    };
    let input = acts.get(g.input).and_then(|x| input_note(&x)).map(|n| format!("; {n}")).unwrap_or_default();
    Some(format!(
        "the relevance is zero everywhere: it vanished at {} (node '{}'): {why}{input}",
        above.label, above.node
    ))
}
