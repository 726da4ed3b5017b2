//! Canonisation: rewrites the graph into the form the relevance rules expect, without changing the
//! function it computes (as Zennit's canonizers do):
//! - a trailing Softmax/LogSoftmax is removed: relevance starts at the logits (RLRP.md, "Start");
//! - a per-channel affine map (BatchNorm, or Mul/Add/Sub/Div by a per-channel constant) directly after a
//!   Conv/Gemm/MatMul whose output it alone reads is folded into that layer's weights and bias
//!   (RLRP.md: "BatchNorm directly after a Conv or Gemm is folded into it"); anywhere else it stays a
//!   diagonal linear layer;
//! - consecutive diagonal layers (a written-out LayerNorm's `Mul γ` then `Add β`) become one, so that
//!   the written-out form and the fused operator get the same rule;
//! - nodes whose output nothing reads (a written-out LayerNorm's mean, once the centring has
//!   absorbed it) are dropped;
//! - relevance must be able to pass every node it reaches (RLRP.md: never a silent guess): a
//!   Softmax or a bilinear product on the relevance path is an error naming the node, one inside an
//!   attention or gate branch is fine (only gradients pass there).
use super::graph::*;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub fn canonise(graph: &mut Graph) -> Result<()> {
    remove_trailing_softmax(graph)?;
    fold_affine_into_linear(graph);
    merge_affines(graph);
    remove_dead_nodes(graph);
    check_relevance_path(graph)
}

fn remove_trailing_softmax(g: &mut Graph) -> Result<()> {
    while let Some(p) = g.producer(g.output) {
        if !matches!(g.nodes[p].onnx_op.as_str(), "Softmax" | "LogSoftmax") {
            break;
        }
        let node = g.nodes.remove(p);
        g.output = node.inputs[0];
    }
    if let Some(n) = g.nodes.iter().find(|n| n.onnx_op == "LogSoftmax") {
        return Err(Error::UnsupportedUsage {
            op: n.onnx_op.clone(),
            node: n.name.clone(),
            reason: "a LogSoftmax inside the network (only a final one is supported: it is removed)".into(),
        });
    }
    Ok(())
}

/// Values of `t` per index along `axis`, if `t` is constant along every other axis.
fn per_channel(t: &Tensor, axis: usize) -> Option<Vec<f32>> {
    let c = *t.shape().get(axis)?;
    let mut vals: Vec<Option<f32>> = vec![None; c];
    for (ix, &v) in t.indexed_iter() {
        match vals[ix[axis]] {
            None => vals[ix[axis]] = Some(v),
            Some(u) if u.to_bits() == v.to_bits() => {}
            Some(_) => return None,
        }
    }
    vals.into_iter().collect()
}

fn fold_affine_into_linear(g: &mut Graph) {
    loop {
        let readers = g.reader_counts();
        let mut folded = false;
        for ai in 0..g.nodes.len() {
            let Op::Linear(Linear::Affine(affine)) = &g.nodes[ai].op else { continue };
            let input = g.nodes[ai].inputs[0];
            if readers[input] != 1 || input == g.output {
                continue;
            }
            let Some(pi) = g.producer(input) else { continue };
            let rank = g.values[input].shape.len();
            let axis = match &g.nodes[pi].op {
                Op::Linear(Linear::Conv(_)) => 1,
                Op::Linear(Linear::Dense(_)) => rank - 1,
                _ => continue,
            };
            let (Some(scale), Some(shift)) = (per_channel(&affine.scale, axis), per_channel(&affine.bias, axis)) else {
                continue;
            };
            let affine_node = g.nodes.remove(ai);
            let pi = if pi > ai { pi - 1 } else { pi };
            let producer = &mut g.nodes[pi];
            match &mut producer.op {
                Op::Linear(Linear::Conv(conv)) => {
                    let per_out = conv.weight.len() / conv.bias.len();
                    for (co, (s, t)) in scale.iter().zip(&shift).enumerate() {
                        conv.weight[co * per_out..(co + 1) * per_out].iter_mut().for_each(|w| *w *= s);
                        conv.bias[co] = conv.bias[co] * s + t;
                    }
                }
                Op::Linear(Linear::Dense(dense)) => {
                    for row in dense.weight.chunks_mut(dense.n) {
                        row.iter_mut().zip(&scale).for_each(|(w, s)| *w *= s);
                    }
                    for (co, (s, t)) in scale.iter().zip(&shift).enumerate() {
                        dense.bias[co] = dense.bias[co] * s + t;
                    }
                }
                _ => unreachable!("checked above"),
            }
            producer.output = affine_node.output;
            producer.onnx_op = format!("{}+{}", producer.onnx_op, affine_node.onnx_op);
            folded = true;
            break;
        }
        if !folded {
            return;
        }
    }
}

/// y = (x·s₁ + b₁)·s₂ + b₂ = x·(s₁s₂) + (b₁s₂ + b₂): one diagonal layer instead of two, when the
/// first one's output has no other reader.
fn merge_affines(g: &mut Graph) {
    loop {
        let readers = g.reader_counts();
        let pair = (0..g.nodes.len()).find_map(|second| {
            let Op::Linear(Linear::Affine(_)) = &g.nodes[second].op else { return None };
            let mid = g.nodes[second].inputs[0];
            let first = g.producer(mid)?;
            (readers[mid] == 1 && mid != g.output && matches!(g.nodes[first].op, Op::Linear(Linear::Affine(_))))
                .then_some((first, second))
        });
        let Some((first, second)) = pair else { return };
        let node2 = g.nodes.remove(second);
        let first = if first > second { first - 1 } else { first };
        let Op::Linear(Linear::Affine(a2)) = node2.op else { unreachable!("checked above") };
        let node1 = &mut g.nodes[first];
        if let Op::Linear(Linear::Affine(a1)) = &mut node1.op {
            a1.scale *= &a2.scale;
            a1.bias *= &a2.scale;
            a1.bias += &a2.bias;
        }
        node1.output = node2.output;
        node1.onnx_op = format!("{}+{}", node1.onnx_op, node2.onnx_op);
    }
}

/// Drops nodes whose output no node reads and that are not the output (iteratively).
fn remove_dead_nodes(g: &mut Graph) {
    loop {
        let readers = g.reader_counts();
        let before = g.nodes.len();
        g.nodes.retain(|n| readers[n.output] > 0);
        if g.nodes.len() == before {
            return;
        }
    }
}

/// Every node that relevance reaches (from the output, through each op's relevance inputs) must
/// have a relevance rule.
fn check_relevance_path(g: &Graph) -> Result<()> {
    let mut reached = vec![false; g.values.len()];
    reached[g.output] = true;
    for n in g.nodes.iter().rev() {
        if !reached[n.output] {
            continue;
        }
        if let Some(reason) = n.op.relevance_refusal() {
            return Err(Error::UnsupportedUsage { op: n.onnx_op.clone(), node: n.name.clone(), reason: reason.into() });
        }
        for k in n.op.relevance_inputs(n.inputs.len()) {
            reached[n.inputs[k]] = true;
        }
    }
    Ok(())
}
