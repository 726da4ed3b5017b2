//! Canonisation: rewrites the graph into the form the relevance rules expect, without changing the
//! function it computes (as Zennit's canonizers do):
//! - a trailing Softmax/LogSoftmax is removed: relevance starts at the logits (RLRP.md, "Start");
//! - a per-channel affine map (BatchNorm, or Mul/Add/Sub/Div by a per-channel constant) directly after a
//!   Conv/Gemm/MatMul whose output it alone reads is folded into that layer's weights and bias
//!   (RLRP.md: "BatchNorm directly after a Conv or Gemm is folded into it"); anywhere else it stays a
//!   diagonal linear layer.
use super::graph::*;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub fn canonise(graph: &mut Graph) -> Result<()> {
    remove_trailing_softmax(graph)?;
    fold_affine_into_linear(graph);
    Ok(())
}

fn remove_trailing_softmax(g: &mut Graph) -> Result<()> {
    while let Some(p) = g.producer(g.output) {
        if !matches!(g.nodes[p].onnx_op.as_str(), "Softmax" | "LogSoftmax") {
            break;
        }
        let node = g.nodes.remove(p);
        g.output = node.inputs[0];
    }
    if let Some(n) = g.nodes.iter().find(|n| matches!(n.onnx_op.as_str(), "Softmax" | "LogSoftmax")) {
        return Err(Error::UnsupportedUsage {
            op: n.onnx_op.clone(),
            node: n.name.clone(),
            reason: "a Softmax inside the network (only a final Softmax is supported: it is removed)".into(),
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
