//! One reverse walk of the graph: relevance flows from the logits to the input, node by node, with
//! fan-out summed (RLRP.md, "Other operations"). The method only changes the linear rule (see
//! [`super::composite::rule_for`]), the skip-addition split and, for gradients, the activations.
use super::composite::rule_for;
use super::non_finite;
use super::ops;
use super::rules::{mass, propagate_with_mass, LayerContext};
use crate::error::{Error, Result};
use crate::forward::Activations;
use crate::kernels::{elementwise, pool};
use crate::method::{Family, Method, MethodParams};
use crate::model::graph::{Graph, Linear, Op, Piece};
use crate::report::LayerMass;
use crate::tensor::{ndarray, Tensor, TensorView};

/// Progress reports: (nodes done, nodes in all). Returning false cancels the walk.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize) -> bool;

/// Sees the relevance at the output of every node the walk reaches (node index, relevance), in
/// walk order (from the logits down), after the fan-out sum and before the node's rule.
pub type Observer<'a> = &'a mut dyn FnMut(usize, &Tensor);

pub struct WalkResult {
    pub input_relevance: Tensor,
    pub layers: Vec<LayerMass>,
    /// The first layer whose rule turned finite relevance into non-finite values.
    pub first_non_finite: Option<non_finite::Origin>,
}

/// Activation `v`, borrowed from the forward pass. (The ops of gated and attention models below
/// read an owned copy, `.to_owned()`: their kernels take arrays.)
fn activation<'a>(acts: &'a Activations, g: &Graph, v: usize) -> Result<TensorView<'a>> {
    acts.get(v).ok_or_else(|| Error::Engine(format!("activation '{}' was not kept", g.values[v].name)))
}

/// The gradient through an element-wise op y = f(x): `apply(r, x)` turns each incoming r into
/// r · f'(x), with x the op's input activation. Returns the message to that input.
fn elementwise_gradient(
    acts: &Activations,
    g: &Graph,
    input: usize,
    mut r: Tensor,
    apply: impl Fn(&mut f32, f32),
) -> Result<Vec<(usize, Tensor)>> {
    let x = &activation(acts, g, input)?;
    r.zip_mut_with(x, |a, &xv| apply(a, xv));
    Ok(vec![(input, r)])
}

fn reshape(t: Tensor, shape: &[usize]) -> Tensor {
    let t = if t.is_standard_layout() { t } else { t.as_standard_layout().into_owned() };
    t.into_shape_with_order(ndarray::IxDyn(shape)).expect("relevance keeps the element count")
}

/// Propagates `start` (relevance at the logits) back to the input.
pub fn walk(
    g: &Graph,
    acts: &Activations,
    start: Tensor,
    method: Method,
    params: &MethodParams,
    observe: Observer,
    progress: Progress,
) -> Result<WalkResult> {
    let family = method.family();
    let input = &activation(acts, g, g.input)?;
    let range = params.input_range.unwrap_or_else(|| {
        let lo = input.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = input.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (lo, hi)
    });
    let first = g.first_layers().first().copied();
    let mut rel: Vec<Option<Tensor>> = vec![None; g.values.len()];
    // (sum, ‖·‖₁) of rel[v] where it is one message whose mass is known already.
    let mut known_mass: Vec<Option<(f64, f64)>> = vec![None; g.values.len()];
    rel[g.output] = Some(start);
    let mut layers = Vec::with_capacity(g.nodes.len() + 1);
    let mut first_non_finite = None;
    let total = g.nodes.len();
    let labels = g.labels();
    for (done, (ix, node)) in g.nodes.iter().enumerate().rev().enumerate() {
        if !progress(done, total) {
            return Err(Error::Cancelled);
        }
        let Some(r) = rel[node.output].take() else { continue };
        let (r_sum, r_l1) = known_mass[node.output].take().unwrap_or_else(|| mass(&r));
        layers.push(LayerMass {
            node: node.name.clone(),
            label: format!("{} {:?}", labels[ix], r.shape()),
            op: node.onnx_op.clone(),
            shape: r.shape().to_vec(),
            l1: r_l1,
            sum: r_sum,
        });
        observe(ix, &r);
        let in_shape = |k: usize| g.values[node.inputs[k]].shape.clone();
        // The mass of the one message below, where it is known without reading it: r's own where
        // the op passes r on unchanged, the rule's where it measured it (R-LRP's rescale).
        let mut measured: Option<(f64, f64)> = None;
        let mut pass_on = |r: Tensor| {
            measured = Some((r_sum, r_l1));
            r
        };
        let messages: Vec<(usize, Tensor)> = match &node.op {
            Op::Identity => vec![(node.inputs[0], pass_on(r))],
            Op::Saturate { min, max } => match family {
                Family::Gradient => elementwise_gradient(acts, g, node.inputs[0], r, |a, x| {
                    if !(*min..=*max).contains(&x) {
                        *a = 0.0
                    }
                })?,
                // RLRP.md: activation fake-quantisation is the identity for relevance.
                _ => vec![(node.inputs[0], pass_on(r))],
            },
            Op::Reshape => vec![(node.inputs[0], pass_on(reshape(r, &in_shape(0))))],
            Op::Activation(act) => match family {
                Family::Gradient => elementwise_gradient(acts, g, node.inputs[0], r, |a, x| *a *= act.derivative(x))?,
                // RLRP.md: activations pass relevance unchanged (Zennit's Pass rule, likewise).
                _ => {
                    refuse(node)?;
                    vec![(node.inputs[0], pass_on(r))]
                }
            },
            Op::Transpose(perm) => {
                let mut inverse = vec![0; perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    inverse[p] = i;
                }
                let t = r.permuted_axes(ndarray::IxDyn(&inverse)).as_standard_layout().into_owned();
                vec![(node.inputs[0], t)]
            }
            Op::Concat { axis, pieces } => {
                // A constant piece (a class token) takes no relevance.
                let mut at = 0;
                let mut out = Vec::new();
                for piece in pieces {
                    match *piece {
                        Piece::Input(k) => {
                            let len = in_shape(k)[*axis];
                            let part =
                                r.slice_axis(ndarray::Axis(*axis), ndarray::Slice::from(at..at + len)).to_owned();
                            at += len;
                            out.push((node.inputs[k], part));
                        }
                        Piece::Constant(len) => at += len,
                    }
                }
                out
            }
            Op::Slice(ranges) => vec![(node.inputs[0], ops::slice_scatter(ranges, &in_shape(0), &r))],
            Op::Gather { axis, indices } => {
                vec![(node.inputs[0], ops::gather_scatter(*axis, indices, &in_shape(0), &r))]
            }
            Op::Broadcast => vec![(node.inputs[0], ops::unbroadcast(r, &in_shape(0)))],
            Op::Tile => vec![(node.inputs[0], ops::untile(r, &in_shape(0)))],
            Op::ReduceMax(axes) => {
                let x = activation(acts, g, node.inputs[0])?.to_owned();
                vec![(node.inputs[0], ops::reduce_max_route(axes, &x, &r))]
            }
            Op::Gate { gate, divide } => {
                let signal = 1 - gate;
                match family {
                    Family::Gradient => {
                        let x = activation(acts, g, node.inputs[signal])?.to_owned();
                        let gv = activation(acts, g, node.inputs[*gate])?.to_owned();
                        let (rx, rg) = ops::gate_gradient(&x, &gv, &r, *divide);
                        vec![(node.inputs[signal], rx), (node.inputs[*gate], rg)]
                    }
                    // RLRP.md: the gate is a constant, R_x = R_y; the gate branch gets nothing.
                    _ => vec![(node.inputs[signal], r)],
                }
            }
            Op::MatMul { weights, transpose_b } => match (family, *weights) {
                (Family::Gradient, _) => {
                    let a = activation(acts, g, node.inputs[0])?.to_owned();
                    let b = activation(acts, g, node.inputs[1])?.to_owned();
                    let (da, db) = ops::matmul_gradient(&a, &b, *transpose_b, &r);
                    vec![(node.inputs[0], da), (node.inputs[1], db)]
                }
                (_, Some(w)) => {
                    let values = 1 - w;
                    let a = activation(acts, g, node.inputs[w])?.to_owned();
                    let v = activation(acts, g, node.inputs[values])?.to_owned();
                    let rule = |l: &Linear| rule_for(method, params, l, false, range);
                    vec![(node.inputs[values], ops::attention_relevance(&a, w == 0, &v, &r, &rule))]
                }
                (_, None) => {
                    refuse(node)?;
                    Vec::new()
                }
            },
            Op::Lrn(lrn) => match family {
                Family::Gradient => {
                    let x = activation(acts, g, node.inputs[0])?.to_owned();
                    vec![(node.inputs[0], ops::lrn_gradient(lrn, &x, &r))]
                }
                // RLRP.md: a normaliser is a constant scale, R_x = R_y.
                _ => vec![(node.inputs[0], r)],
            },
            Op::ReduceL2(axes) => match family {
                Family::Gradient => {
                    let x = activation(acts, g, node.inputs[0])?.to_owned();
                    vec![(node.inputs[0], ops::reduce_l2_gradient(axes, &x, &r))]
                }
                _ => {
                    refuse(node)?;
                    Vec::new()
                }
            },
            Op::Softmax { axis } => match family {
                Family::Gradient => {
                    let x = activation(acts, g, node.inputs[0])?.to_owned();
                    vec![(node.inputs[0], ops::softmax_gradient(&x, *axis, &r))]
                }
                _ => {
                    refuse(node)?;
                    Vec::new()
                }
            },
            Op::LayerNorm(ln) => {
                let x = activation(acts, g, node.inputs[0])?.to_owned();
                let rule = |l: &Linear| rule_for(method, params, l, false, range);
                let rule: Option<&dyn Fn(&Linear) -> _> = match family {
                    Family::Gradient => None,
                    _ => Some(&rule),
                };
                vec![(node.inputs[0], ops::layer_norm_backward(ln, &x, &r, rule))]
            }
            Op::Pad(pads) => {
                let shape = in_shape(0);
                let mut view = r.view();
                for (axis, (&(begin, _), &len)) in pads.iter().zip(&shape).enumerate() {
                    view.slice_axis_inplace(ndarray::Axis(axis), ndarray::Slice::from(begin..begin + len));
                }
                vec![(node.inputs[0], view.to_owned())]
            }
            Op::MaxPool(geometry) => {
                // RLRP.md: routed to the arg-max of each window (first on ties), for every method.
                let x = &activation(acts, g, node.inputs[0])?;
                let xs = x.as_standard_layout();
                let xs = xs.as_slice().expect("standard layout");
                let out_len = r.len();
                let mut y = vec![0f32; out_len];
                let mut argmax = vec![0u32; out_len];
                pool::maxpool_forward(geometry, xs, &mut y, &mut argmax);
                let mut routed = vec![0f32; xs.len()];
                let rs = r.as_standard_layout();
                pool::maxpool_route(xs.len(), rs.as_slice().expect("standard layout"), &argmax, &mut routed);
                vec![(node.inputs[0], Tensor::from_shape_vec(ndarray::IxDyn(x.shape()), routed).expect("size"))]
            }
            Op::Add { subtract } => {
                let a = &activation(acts, g, node.inputs[0])?;
                let b = &activation(acts, g, node.inputs[1])?;
                // LRP-0 splits exactly in proportion (its ε is 0 everywhere); the other LRP methods use
                // Zennit's Norm rule with its stabiliser.
                let stabilizer = if method == Method::Lrp0 { 0.0 } else { params.stabilizer };
                // y = a − b is a + (−b): b's share is that of its contribution −b (so LRP-0 stays
                // Gradient × Input), and its gradient the negated one.
                let sign_b = if *subtract { -1.0 } else { 1.0 };
                let (ra, rb) = split_skip(family, stabilizer, a, b, sign_b, &r);
                vec![(node.inputs[0], ra), (node.inputs[1], rb)]
            }
            Op::Linear(layer) => {
                let x = &activation(acts, g, node.inputs[0])?;
                let rule = rule_for(method, params, layer, Some(ix) == first, range);
                let out_shape = &g.values[node.output].shape;
                let z = acts.get(node.output).filter(|z| z.shape() == &out_shape[..]);
                let ctx = LayerContext { layer, x: x.view(), out_shape, z, r_l1: Some(r_l1) };
                let (message, message_mass) = propagate_with_mass(&rule, &ctx, &r);
                measured = message_mass;
                vec![(node.inputs[0], message)]
            }
        };
        for (v, m) in messages {
            // The message's mass (known, or one pass), kept for when it is all of v's relevance,
            // says whether it holds a non-finite value: its ‖·‖₁ summed in f64 is non-finite
            // exactly then.
            let (m_sum, m_l1) = measured.take().unwrap_or_else(|| mass(&m));
            if first_non_finite.is_none() && !m_l1.is_finite() {
                let bad = non_finite::count(&m);
                if bad > 0 {
                    let dividing = !matches!(family, Family::Gradient);
                    first_non_finite = Some(non_finite::relevance_origin(g, acts, ix, bad, dividing));
                }
            }
            rel[v] = Some(match rel[v].take() {
                Some(mut acc) => {
                    acc += &m;
                    known_mass[v] = None;
                    acc
                }
                None => {
                    known_mass[v] = Some((m_sum, m_l1));
                    m
                }
            });
        }
    }
    let input_relevance =
        rel[g.input].take().unwrap_or_else(|| Tensor::zeros(ndarray::IxDyn(&g.values[g.input].shape)));
    let (input_sum, input_l1) = known_mass[g.input].take().unwrap_or_else(|| mass(&input_relevance));
    layers.push(LayerMass {
        node: "input".into(),
        label: "Input".into(),
        op: "Input".into(),
        shape: input_relevance.shape().to_vec(),
        l1: input_l1,
        sum: input_sum,
    });
    progress(total, total);
    Ok(WalkResult { input_relevance, layers, first_non_finite })
}

/// The error for relevance reaching an op that has no relevance rule (import refuses such graphs;
/// this guards the walk itself).
fn refuse(node: &crate::model::graph::Node) -> Result<()> {
    match node.op.relevance_refusal() {
        Some(reason) => {
            Err(Error::UnsupportedUsage { op: node.onnx_op.clone(), node: node.name.clone(), reason: reason.into() })
        }
        None => Ok(()),
    }
}

/// Splits relevance at a skip connection y = a + sign_b · b (sign_b = −1: a difference), element by
/// element over contiguous values (one small loop per family: the generic n-dimensional zips were
/// 30 kB of the worker's code).
fn split_skip(
    family: Family,
    stabilizer: f32,
    a: &TensorView,
    b: &TensorView,
    sign_b: f32,
    r: &Tensor,
) -> (Tensor, Tensor) {
    if family == Family::Gradient {
        return (r.clone(), if sign_b < 0.0 { r.mapv(|v| -v) } else { r.clone() });
    }
    let (a, b, r_std) = (a.as_standard_layout(), b.as_standard_layout(), r.as_standard_layout());
    let (a, b, rs) = (
        a.as_slice().expect("standard layout"),
        b.as_slice().expect("standard layout"),
        r_std.as_slice().expect("standard layout"),
    );
    let (mut ra, mut rb) = (vec![0f32; rs.len()], vec![0f32; rs.len()]);
    let parts = ra.iter_mut().zip(rb.iter_mut()).zip(a.iter().zip(b.iter().map(|&v| sign_b * v)).zip(rs));
    match family {
        Family::Rlrp { divfree_skips: false } => {
            // RLRP.md: R_a = (a ⊘ y) ⊙ R, R_b = (b ⊘ y) ⊙ R; half each where y = 0 exactly.
            for ((ra, rb), ((&av, bv), &rv)) in parts {
                let y = av + bv;
                (*ra, *rb) = if y == 0.0 { (rv * 0.5, rv * 0.5) } else { (rv * (av / y), rv * (bv / y)) };
            }
        }
        Family::Rlrp { divfree_skips: true } => {
            // RLRP.md "Variant": U_a = a ⊙ R, U_b = b ⊙ R, one λ = ‖R‖₁ / (‖U_a‖₁ + ‖U_b‖₁).
            for ((ra, rb), ((&av, bv), &rv)) in parts {
                (*ra, *rb) = (rv * av, rv * bv);
            }
            let denom = elementwise::l1_norm(&ra) + elementwise::l1_norm(&rb);
            let target = elementwise::l1_norm(rs);
            let lambda = if denom > 0.0 { target / denom } else { 0.0 };
            ra.iter_mut().chain(rb.iter_mut()).for_each(|v| *v = (*v as f64 * lambda) as f32);
        }
        Family::Lrp => {
            // Zennit's Norm rule on its Sum layer: R_a = a · R / stab(y), stabiliser 1e-6.
            for ((ra, rb), ((&av, bv), &rv)) in parts {
                let y = av + bv;
                let d = if y > 0.0 {
                    y + stabilizer
                } else if y < 0.0 {
                    y - stabilizer
                } else {
                    stabilizer
                };
                let s = if d == 0.0 { 0.0 } else { rv / d };
                (*ra, *rb) = (av * s, bv * s);
            }
        }
        Family::Gradient => unreachable!("returned above"),
    }
    let shape = r.raw_dim();
    let whole = |v: Vec<f32>| Tensor::from_shape_vec(shape.clone(), v).expect("the relevance's size");
    (whole(ra), whole(rb))
}
