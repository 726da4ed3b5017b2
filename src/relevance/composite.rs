//! Composites (Zennit's word): the rule each method gives each linear layer, and so how skip
//! additions and pooling are treated (RLRP.md, "Classical rules").
use super::rules::LinearRule;
use crate::method::{Family, Method, MethodParams};
use crate::model::graph::Linear;

/// The rule a method gives one linear layer. `first` is true for the network's first Conv/Dense layer;
/// `range` is the input's value range (z^B bounds).
pub fn rule_for(method: Method, p: &MethodParams, layer: &Linear, first: bool, range: (f32, f32)) -> LinearRule {
    let stab = p.stabilizer;
    match method.family() {
        Family::Rlrp { .. } => return LinearRule::Rlrp,
        Family::Gradient => return LinearRule::Gradient,
        Family::Lrp => {}
    }
    // LRP-0 is the ε = 0 rule at every linear layer: with gates, standard deviations and attention
    // weights constant it equals Gradient × Input of that network (RLRP.md).
    let lrp0 = method == Method::Lrp0;
    match layer {
        Linear::AvgPool(_) | Linear::GlobalAvgPool { .. } | Linear::Reduce { .. } if !lrp0 => {
            return LinearRule::Norm { stabilizer: stab }
        }
        Linear::Affine(_) if !lrp0 => return LinearRule::Pass,
        // Interpolation averages its inputs, as pooling does (Zennit's rule for pooling); cubic
        // interpolation's negative weights take the ε rule instead.
        Linear::Resize(axes) if !lrp0 => {
            return if axes.iter().all(|a| a.weights.iter().all(|&w| w >= 0.0)) {
                LinearRule::Norm { stabilizer: stab }
            } else {
                LinearRule::Epsilon { epsilon: p.epsilon }
            }
        }
        // The centring of a LayerNorm and attention mixing: no Zennit composite names them; they take
        // the ε rule, as dense layers do in the composites.
        Linear::Centre(_) | Linear::Mix { .. } if !lrp0 => return LinearRule::Epsilon { epsilon: p.epsilon },
        Linear::AvgPool(_)
        | Linear::GlobalAvgPool { .. }
        | Linear::Reduce { .. }
        | Linear::Affine(_)
        | Linear::Centre(_)
        | Linear::Mix { .. }
        | Linear::Resize(_) => return LinearRule::Epsilon { epsilon: 0.0 },
        Linear::Conv(_) | Linear::Dense(_) => {}
    }
    let conv = matches!(layer, Linear::Conv(_));
    let eps = LinearRule::Epsilon { epsilon: p.epsilon };
    let zbox = LinearRule::ZBox { low: range.0, high: range.1, stabilizer: stab };
    match method {
        Method::Lrp0 => LinearRule::Epsilon { epsilon: 0.0 },
        Method::Epsilon => eps,
        Method::Gamma => LinearRule::Gamma { gamma: p.gamma, stabilizer: stab },
        Method::Alphabeta => LinearRule::AlphaBeta { alpha: p.alpha, beta: p.beta, stabilizer: stab },
        Method::Zplus => LinearRule::ZPlus { stabilizer: stab },
        Method::Flat => LinearRule::Flat { stabilizer: stab },
        Method::Wsquare => LinearRule::WSquare { stabilizer: stab },
        Method::Zbox => {
            if first {
                zbox
            } else {
                eps
            }
        }
        Method::EpsilonPlusFlat => {
            if first {
                LinearRule::Flat { stabilizer: stab }
            } else if conv {
                LinearRule::ZPlus { stabilizer: stab }
            } else {
                eps
            }
        }
        Method::EpsilonGammaBox => {
            if first && conv {
                zbox
            } else if conv {
                LinearRule::Gamma { gamma: p.gamma, stabilizer: stab }
            } else {
                eps
            }
        }
        _ => eps,
    }
}
