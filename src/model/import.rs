//! ONNX → explainable [`Graph`]. Two phases: [`trace`] finds the data path from the network input to
//! the logits (shape sub-graphs and constants are not on it); after tract has inferred every shape,
//! [`build`] turns each ONNX node on that path into one typed [`Op`], with its constants folded in.
//! Anything without a rule in RLRP.md is an error naming the operator and the node.
use super::constants::{normalise_axis, Constants};
use super::graph::*;
use super::proto::{Attrs, Constant};
use crate::error::{Error, Result};
use crate::kernels::conv::Conv2dGeometry;
use crate::kernels::pool::Pool2dGeometry;
use crate::tensor::{ndarray, Tensor};
use std::collections::HashMap;
use tract_onnx::pb::{GraphProto, NodeProto};

/// The data path of an ONNX graph.
pub struct Trace<'a> {
    /// Nodes on the path from input to output, in topological order.
    pub nodes: Vec<&'a NodeProto>,
    /// Every tensor name on the path (the input first).
    pub values: Vec<String>,
    pub input: String,
    pub output: String,
}

const SUPPORTED: &[&str] = &[
    "Conv",
    "Gemm",
    "MatMul",
    "BatchNormalization",
    "Relu",
    "Clip",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "HardSigmoid",
    "HardSwish",
    "Gelu",
    "Elu",
    "Softplus",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Concat",
    "Pad",
    "Dropout",
    "Identity",
    "Cast",
    "Softmax",
    "LogSoftmax",
    "QuantizeLinear",
    "DequantizeLinear",
];

fn node_name(n: &NodeProto) -> String {
    if n.name.is_empty() {
        format!("{}:{}", n.op_type, n.output.first().map(String::as_str).unwrap_or("?"))
    } else {
        n.name.clone()
    }
}

fn unsupported_usage(n: &NodeProto, reason: impl Into<String>) -> Error {
    Error::UnsupportedUsage { op: n.op_type.clone(), node: node_name(n), reason: reason.into() }
}

/// Which inputs of a node carry data from the network input (the rest must be constants or are shape
/// computations that relevance never flows through).
fn data_inputs(n: &NodeProto, consts: &mut Constants) -> Result<Vec<String>> {
    let only_first = matches!(
        n.op_type.as_str(),
        "Conv"
            | "Gemm"
            | "BatchNormalization"
            | "Relu"
            | "Clip"
            | "LeakyRelu"
            | "Sigmoid"
            | "Tanh"
            | "HardSigmoid"
            | "HardSwish"
            | "Gelu"
            | "Elu"
            | "Softplus"
            | "MaxPool"
            | "AveragePool"
            | "GlobalAveragePool"
            | "GlobalMaxPool"
            | "Flatten"
            | "Reshape"
            | "Squeeze"
            | "Unsqueeze"
            | "Transpose"
            | "Pad"
            | "Dropout"
            | "Identity"
            | "Cast"
            | "Softmax"
            | "LogSoftmax"
            | "QuantizeLinear"
            | "DequantizeLinear"
    );
    let mut out = Vec::new();
    for (i, name) in n.input.iter().enumerate() {
        if name.is_empty() || (only_first && i > 0) {
            continue;
        }
        if !consts.is_constant(name)? {
            out.push(name.clone());
        }
    }
    Ok(out)
}

/// Finds the data path of the graph (phase 1).
pub fn trace<'a>(graph: &'a GraphProto, consts: &mut Constants<'a>) -> Result<Trace<'a>> {
    let inputs: Vec<&str> =
        graph.input.iter().map(|i| i.name.as_str()).filter(|name| !consts.is_initializer(name)).collect();
    let input = match inputs.as_slice() {
        [one] => one.to_string(),
        [] => return Err(Error::InvalidModel("the graph has no input".into())),
        many => {
            return Err(Error::InvalidModel(format!(
                "the graph has {} inputs ({}); an image classifier has exactly one",
                many.len(),
                many.join(", ")
            )))
        }
    };
    let output = graph
        .output
        .first()
        .map(|o| o.name.clone())
        .ok_or_else(|| Error::InvalidModel("the graph has no output".into()))?;

    // Iterative post-order DFS from the output along data inputs.
    let mut order: Vec<&NodeProto> = Vec::new();
    let mut state: HashMap<String, u8> = HashMap::new(); // 1 = visiting, 2 = done
    let mut stack: Vec<(String, bool)> = vec![(output.clone(), false)];
    while let Some((name, expanded)) = stack.pop() {
        if name == input {
            state.insert(name, 2);
            continue;
        }
        if expanded {
            state.insert(name.clone(), 2);
            if let Some(p) = consts.producer(&name) {
                if !order.iter().any(|o| std::ptr::eq(*o, p)) {
                    order.push(p);
                }
            }
            continue;
        }
        match state.get(&name) {
            Some(2) => continue,
            Some(_) => return Err(Error::InvalidModel(format!("the graph has a cycle through '{name}'"))),
            None => {}
        }
        let producer = consts.producer(&name).ok_or_else(|| {
            Error::InvalidModel(format!("tensor '{name}' is neither the input, an initializer, nor a node output"))
        })?;
        if !producer.domain.is_empty() && producer.domain != "ai.onnx" {
            return Err(Error::UnsupportedOperator {
                op: format!("{}.{}", producer.domain, producer.op_type),
                node: node_name(producer),
            });
        }
        if !SUPPORTED.contains(&producer.op_type.as_str()) {
            return Err(Error::UnsupportedOperator { op: producer.op_type.clone(), node: node_name(producer) });
        }
        if producer.output.first() != Some(&name) {
            return Err(unsupported_usage(producer, format!("its secondary output '{name}' is used")));
        }
        state.insert(name.clone(), 1);
        stack.push((name.clone(), true));
        let ins = data_inputs(producer, consts)?;
        if ins.is_empty() {
            return Err(Error::InvalidModel(format!(
                "the output does not depend on the input (node '{}' only reads constants)",
                node_name(producer)
            )));
        }
        for i in ins.into_iter().rev() {
            if state.get(&i) != Some(&2) {
                stack.push((i, false));
            }
        }
    }
    let mut values = vec![input.clone()];
    for n in &order {
        values.push(n.output[0].clone());
    }
    Ok(Trace { nodes: order, values, input, output })
}

/// Builds the explainable graph from the traced path once shapes are known (phase 2).
pub fn build(trace: &Trace, consts: &mut Constants, shapes: &HashMap<String, Vec<usize>>) -> Result<Graph> {
    let mut ids: HashMap<String, ValueId> = HashMap::new();
    let mut values = Vec::new();
    for name in &trace.values {
        let shape = shapes
            .get(name)
            .cloned()
            .ok_or_else(|| Error::Engine(format!("no shape was inferred for tensor '{name}'")))?;
        ids.insert(name.clone(), values.len());
        values.push(Value { name: name.clone(), shape });
    }
    let mut nodes = Vec::new();
    for &n in &trace.nodes {
        let ins: Vec<ValueId> = data_inputs(n, consts)?.iter().map(|i| ids[i]).collect();
        let in_shapes: Vec<Vec<usize>> = ins.iter().map(|&i| values[i].shape.clone()).collect();
        let output = ids[&n.output[0]];
        let out_shape = values[output].shape.clone();
        let op = build_op(n, consts, &in_shapes, &out_shape)?;
        nodes.push(Node { name: node_name(n), onnx_op: n.op_type.clone(), op, inputs: ins, output });
    }
    Ok(Graph { values, nodes, input: ids[&trace.input], output: ids[&trace.output] })
}

fn check_finite(n: &NodeProto, v: &[f32]) -> Result<()> {
    let count = v.iter().filter(|x| !x.is_finite()).count();
    if count > 0 {
        return Err(Error::NonFiniteWeights { node: node_name(n), count });
    }
    Ok(())
}

fn const_input(n: &NodeProto, consts: &mut Constants, ix: usize, what: &str) -> Result<Option<Tensor>> {
    match n.input.get(ix) {
        None => Ok(None),
        Some(name) if name.is_empty() => Ok(None),
        Some(name) => match consts.get(name)? {
            Some(c) => {
                check_finite(n, c.values.as_slice().unwrap_or(&[]))?;
                Ok(Some(c.values))
            }
            None => Err(unsupported_usage(n, format!("its {what} ('{name}') is computed, not a constant"))),
        },
    }
}

/// The real interval a QuantizeLinear maps into its integer type without saturating,
/// [(q_min − zero_point)·scale, (q_max − zero_point)·scale]; None unless the scale and zero point
/// are single constants and the type is an 8- or 16-bit integer (then the node stays an identity).
fn quantize_range(n: &NodeProto, consts: &mut Constants) -> Result<Option<(f32, f32)>> {
    let single =
        |c: Option<Constant>| c.filter(|c| c.values.len() == 1).map(|c| (c.values.iter().copied().next(), c.data_type));
    let Some((Some(scale), _)) = single(match n.input.get(1) {
        Some(name) if !name.is_empty() => consts.get(name)?,
        _ => None,
    }) else {
        return Ok(None);
    };
    // ONNX: without a zero point the output is uint8 (or the type of the `output_dtype` attribute).
    let (zero_point, data_type) = match n.input.get(2).filter(|name| !name.is_empty()) {
        None => (0.0, Attrs::of(n).int("output_dtype").filter(|&t| t != 0).unwrap_or(2) as i32),
        Some(name) => match single(consts.get(name)?) {
            Some((Some(z), t)) => (z, t),
            _ => return Ok(None),
        },
    };
    let (q_min, q_max) = match data_type {
        2 => (0.0, 255.0),
        3 => (-128.0, 127.0),
        4 => (0.0, 65535.0),
        5 => (-32768.0, 32767.0),
        _ => return Ok(None),
    };
    if !(scale.is_finite() && scale > 0.0 && zero_point.is_finite()) {
        return Ok(None);
    }
    Ok(Some(((q_min - zero_point) * scale, (q_max - zero_point) * scale)))
}

/// Spatial view of an activation: (channels, height, width) for [1,C,H,W] or [1,C,L] (height 1).
fn spatial(n: &NodeProto, shape: &[usize]) -> Result<(usize, usize, usize)> {
    match shape {
        [1, c, h, w] => Ok((*c, *h, *w)),
        [1, c, l] => Ok((*c, 1, *l)),
        _ => Err(unsupported_usage(n, format!("expects a batch-1 NCHW (or NCL) input, got shape {shape:?}"))),
    }
}

/// Kernel, stride, dilation and pads from ONNX attributes, in 2-D form (1-D ops get height 1).
struct Window {
    kernel: (usize, usize),
    stride: (usize, usize),
    dilation: (usize, usize),
    pads: [usize; 4],
}

fn window(n: &NodeProto, kernel: &[usize], in_hw: (usize, usize)) -> Result<Window> {
    let a = Attrs::of(n);
    let dims = kernel.len();
    if !(1..=2).contains(&dims) {
        return Err(unsupported_usage(n, format!("{dims}-D windows are not supported (1-D and 2-D are)")));
    }
    let two = |v: Vec<i64>, default: usize| -> Result<(usize, usize)> {
        if v.is_empty() {
            return Ok((default, default));
        }
        if v.len() != dims || v.iter().any(|&x| x < 0) {
            return Err(unsupported_usage(n, format!("bad attribute value {v:?}")));
        }
        Ok(if dims == 1 { (1, v[0] as usize) } else { (v[0] as usize, v[1] as usize) })
    };
    let k = if dims == 1 { (1, kernel[0]) } else { (kernel[0], kernel[1]) };
    let stride = two(a.ints("strides").unwrap_or_default(), 1)?;
    let dilation = two(a.ints("dilations").unwrap_or_default(), 1)?;
    if stride.0 == 0 || stride.1 == 0 || dilation.0 == 0 || dilation.1 == 0 {
        return Err(unsupported_usage(n, "zero stride or dilation"));
    }
    let auto_pad = a.string("auto_pad").unwrap_or_else(|| "NOTSET".into());
    let pads = match auto_pad.as_str() {
        "NOTSET" => {
            let p = a.ints("pads").unwrap_or_default();
            if p.iter().any(|&x| x < 0) {
                return Err(unsupported_usage(n, "negative pads"));
            }
            let p: Vec<usize> = p.iter().map(|&x| x as usize).collect();
            match (dims, p.len()) {
                (_, 0) => [0; 4],
                (1, 2) => [0, p[0], 0, p[1]],
                (2, 4) => [p[0], p[1], p[2], p[3]],
                _ => return Err(unsupported_usage(n, format!("pads {p:?} do not match a {dims}-D window"))),
            }
        }
        "VALID" => [0; 4],
        "SAME_UPPER" | "SAME_LOWER" => {
            let same = |size: usize, k: usize, s: usize, d: usize| -> (usize, usize) {
                let out = size.div_ceil(s);
                let total = ((out - 1) * s + (k - 1) * d + 1).saturating_sub(size);
                let small = total / 2;
                if auto_pad == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                }
            };
            let (t, b) = same(in_hw.0, k.0, stride.0, dilation.0);
            let (l, r) = same(in_hw.1, k.1, stride.1, dilation.1);
            [t, l, b, r]
        }
        other => return Err(unsupported_usage(n, format!("auto_pad {other}"))),
    };
    Ok(Window { kernel: k, stride, dilation, pads })
}

/// Broadcasts a constant to `shape` (numpy rules); errors if it would change the shape.
fn broadcast_to(n: &NodeProto, c: &Tensor, shape: &[usize]) -> Result<Tensor> {
    c.broadcast(ndarray::IxDyn(shape)).map(|v| v.to_owned()).ok_or_else(|| {
        unsupported_usage(
            n,
            format!("constant of shape {:?} does not broadcast to the input shape {shape:?}", c.shape()),
        )
    })
}

fn build_op(n: &NodeProto, consts: &mut Constants, ins: &[Vec<usize>], out: &[usize]) -> Result<Op> {
    let a = Attrs::of(n);
    let x = ins.first().cloned().unwrap_or_default();
    let op = match n.op_type.as_str() {
        "Conv" => {
            let w = const_input(n, consts, 1, "weight")?.ok_or_else(|| unsupported_usage(n, "no weight"))?;
            let ws = w.shape().to_vec();
            let (cin, h, wd) = spatial(n, &x)?;
            let groups = a.int("group").unwrap_or(1).max(1) as usize;
            let kernel = &ws[2..];
            let win = window(n, kernel, (h, wd))?;
            if ws.len() < 3 || ws[1] * groups != cin {
                return Err(unsupported_usage(
                    n,
                    format!("weight shape {ws:?} does not fit {cin} input channels in {groups} groups"),
                ));
            }
            let cout = ws[0];
            let geometry = Conv2dGeometry::new(
                cin,
                h,
                wd,
                cout,
                win.kernel.0,
                win.kernel.1,
                win.stride,
                win.dilation,
                win.pads,
                groups,
            )
            .map_err(|e| unsupported_usage(n, e))?;
            if geometry.output_len() != out.iter().product::<usize>() {
                return Err(Error::Engine(format!(
                    "Conv '{}': output size disagrees with the engine's {out:?}",
                    node_name(n)
                )));
            }
            let bias = match const_input(n, consts, 2, "bias")? {
                Some(b) => b.iter().copied().collect(),
                None => vec![0.0; cout],
            };
            Op::Linear(Linear::Conv(Conv { geometry, weight: w.iter().copied().collect(), bias }))
        }
        "Gemm" | "MatMul" => {
            let w = const_input(n, consts, 1, "weight (B)")?.ok_or_else(|| unsupported_usage(n, "no weight"))?;
            if w.ndim() != 2 {
                return Err(unsupported_usage(
                    n,
                    format!("weight of rank {} (only 2-D weights are supported)", w.ndim()),
                ));
            }
            let gemm = n.op_type == "Gemm";
            if gemm && a.int("transA").unwrap_or(0) != 0 {
                return Err(unsupported_usage(n, "transA = 1 on a computed input"));
            }
            let alpha = if gemm { a.float("alpha").unwrap_or(1.0) } else { 1.0 };
            let beta = if gemm { a.float("beta").unwrap_or(1.0) } else { 1.0 };
            let w = if gemm && a.int("transB").unwrap_or(0) != 0 { w.t().to_owned() } else { w };
            let (k, nn) = (w.shape()[0], w.shape()[1]);
            if x.last() != Some(&k) {
                return Err(unsupported_usage(n, format!("input shape {x:?} does not end in the weight's {k} rows")));
            }
            let rows = x.iter().product::<usize>() / k.max(1);
            if gemm && x.len() != 2 {
                return Err(unsupported_usage(n, format!("Gemm input of rank {}", x.len())));
            }
            let bias = match if gemm { const_input(n, consts, 2, "bias (C)")? } else { None } {
                Some(c) => {
                    let b = broadcast_to(n, &c, &[rows, nn])?;
                    let first: Vec<f32> = b.iter().take(nn).copied().collect();
                    if b.iter().enumerate().any(|(i, &v)| v != first[i % nn]) {
                        return Err(unsupported_usage(n, "a bias C that varies across rows"));
                    }
                    first.iter().map(|v| v * beta).collect()
                }
                None => vec![0.0; nn],
            };
            Op::Linear(Linear::Dense(Dense { rows, k, n: nn, weight: w.iter().map(|v| v * alpha).collect(), bias }))
        }
        "BatchNormalization" => {
            let get = |consts: &mut Constants, i: usize, what: &str| -> Result<Vec<f32>> {
                Ok(const_input(n, consts, i, what)?
                    .ok_or_else(|| unsupported_usage(n, format!("missing {what}")))?
                    .iter()
                    .copied()
                    .collect())
            };
            let (gamma, beta, mean, var) = (
                get(consts, 1, "scale")?,
                get(consts, 2, "bias")?,
                get(consts, 3, "mean")?,
                get(consts, 4, "variance")?,
            );
            let eps = a.float("epsilon").unwrap_or(1e-5);
            let c = *x.get(1).ok_or_else(|| unsupported_usage(n, "input of rank < 2"))?;
            if [&gamma, &beta, &mean, &var].iter().any(|v| v.len() != c) {
                return Err(unsupported_usage(n, "parameter length differs from the channel count"));
            }
            let scale: Vec<f32> = (0..c).map(|i| gamma[i] / (var[i] + eps).sqrt()).collect();
            let shift: Vec<f32> = (0..c).map(|i| beta[i] - mean[i] * scale[i]).collect();
            channel_affine(n, &x, &scale, &shift)?
        }
        "Relu" => Op::Activation(Activation::Relu),
        "LeakyRelu" => Op::Activation(Activation::LeakyRelu { alpha: a.float("alpha").unwrap_or(0.01) }),
        "Clip" => {
            let scalar = |consts: &mut Constants, i: usize| -> Result<Option<f32>> {
                Ok(const_input(n, consts, i, "bound")?.and_then(|t| t.iter().next().copied()))
            };
            let min = scalar(consts, 1)?.or(a.float("min")).unwrap_or(f32::NEG_INFINITY);
            let max = scalar(consts, 2)?.or(a.float("max")).unwrap_or(f32::INFINITY);
            Op::Activation(Activation::Clip { min, max })
        }
        "Sigmoid" => Op::Activation(Activation::Sigmoid),
        "Tanh" => Op::Activation(Activation::Tanh),
        "HardSigmoid" => Op::Activation(Activation::HardSigmoid {
            alpha: a.float("alpha").unwrap_or(0.2),
            beta: a.float("beta").unwrap_or(0.5),
        }),
        "HardSwish" => Op::Activation(Activation::HardSwish),
        "Gelu" => Op::Activation(Activation::Gelu),
        "Elu" => Op::Activation(Activation::Elu { alpha: a.float("alpha").unwrap_or(1.0) }),
        "Softplus" => Op::Activation(Activation::Softplus),
        "MaxPool" | "AveragePool" => {
            let (c, h, w) = spatial(n, &x)?;
            let kernel: Vec<usize> =
                a.ints("kernel_shape").unwrap_or_default().iter().map(|&k| k.max(0) as usize).collect();
            let win = window(n, &kernel, (h, w))?;
            let max = n.op_type == "MaxPool";
            let g = Pool2dGeometry::new(
                c,
                h,
                w,
                win.kernel,
                win.stride,
                if max { win.dilation } else { (1, 1) },
                win.pads,
                a.int("ceil_mode").unwrap_or(0) != 0,
                a.int("count_include_pad").unwrap_or(0) != 0,
            )
            .map_err(|e| unsupported_usage(n, e))?;
            if g.channels * g.out_h * g.out_w != out.iter().product::<usize>() {
                return Err(Error::Engine(format!(
                    "{} '{}': output size disagrees with the engine's {out:?}",
                    n.op_type,
                    node_name(n)
                )));
            }
            if max {
                Op::MaxPool(g)
            } else {
                Op::Linear(Linear::AvgPool(g))
            }
        }
        "GlobalAveragePool" => {
            let c = *x.get(1).ok_or_else(|| unsupported_usage(n, "input of rank < 2"))?;
            Op::Linear(Linear::GlobalAvgPool { channels: c, hw: x[2..].iter().product() })
        }
        "GlobalMaxPool" => {
            let (c, h, w) = spatial(n, &x)?;
            Op::MaxPool(
                Pool2dGeometry::new(c, h, w, (h, w), (1, 1), (1, 1), [0; 4], false, false)
                    .map_err(|e| unsupported_usage(n, e))?,
            )
        }
        "Add" | "Sub" | "Mul" | "Div" => elementwise(n, consts, &x, ins.len())?,
        "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" => Op::Reshape,
        "Transpose" => {
            let perm: Vec<usize> = match a.ints("perm") {
                Some(p) => p
                    .iter()
                    .map(|&i| normalise_axis(i, x.len()))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| unsupported_usage(n, e))?,
                None => (0..x.len()).rev().collect(),
            };
            Op::Transpose(perm)
        }
        "Concat" => {
            if n.input.len() != ins.len() {
                return Err(unsupported_usage(n, "concatenation with a constant tensor"));
            }
            let axis = normalise_axis(a.int("axis").unwrap_or(0), x.len()).map_err(|e| unsupported_usage(n, e))?;
            Op::Concat { axis }
        }
        "Pad" => {
            let mode = a.string("mode").unwrap_or_else(|| "constant".into());
            if mode != "constant" {
                return Err(unsupported_usage(n, format!("pad mode '{mode}' (only constant padding has a rule)")));
            }
            let pads: Vec<i64> = match a.ints("pads") {
                Some(p) => p,
                None => {
                    let name = n.input.get(1).cloned().unwrap_or_default();
                    consts
                        .get(&name)?
                        .and_then(|c| c.ints)
                        .ok_or_else(|| unsupported_usage(n, "pads are not constant"))?
                }
            };
            if n.input.get(3).is_some_and(|s| !s.is_empty()) {
                return Err(unsupported_usage(n, "the axes input of Pad"));
            }
            let r = x.len();
            if pads.len() != 2 * r || pads.iter().any(|&p| p < 0) {
                return Err(unsupported_usage(
                    n,
                    format!("pads {pads:?} for rank {r} (negative pads are not supported)"),
                ));
            }
            Op::Pad((0..r).map(|i| (pads[i] as usize, pads[i + r] as usize)).collect())
        }
        "QuantizeLinear" => match quantize_range(n, consts)? {
            Some((min, max)) => Op::Saturate { min, max },
            None => Op::Identity,
        },
        "Dropout" | "Identity" | "Cast" | "DequantizeLinear" => Op::Identity,
        // Softmax is only allowed as the last node: canonisation removes it (RLRP.md, "Start").
        "Softmax" | "LogSoftmax" => Op::Identity,
        other => return Err(Error::UnsupportedOperator { op: other.to_string(), node: node_name(n) }),
    };
    Ok(op)
}

/// A per-channel affine map on axis 1 (BatchNorm): kept as a broadcast [`Affine`].
fn channel_affine(n: &NodeProto, x: &[usize], scale: &[f32], shift: &[f32]) -> Result<Op> {
    let c = scale.len();
    let mut bshape = vec![1; x.len()];
    bshape[1] = c;
    let s = Tensor::from_shape_vec(ndarray::IxDyn(&bshape), scale.to_vec())
        .map_err(|e| unsupported_usage(n, e.to_string()))?;
    let b = Tensor::from_shape_vec(ndarray::IxDyn(&bshape), shift.to_vec())
        .map_err(|e| unsupported_usage(n, e.to_string()))?;
    Ok(Op::Linear(Linear::Affine(Affine { scale: broadcast_to(n, &s, x)?, bias: broadcast_to(n, &b, x)? })))
}

/// Add/Sub/Mul/Div: of two computed tensors (only Add has a rule: the skip connection), or with a
/// constant (part of a linear layer: a bias or a diagonal weight, RLRP.md "Other operations").
fn elementwise(n: &NodeProto, consts: &mut Constants, x: &[usize], computed: usize) -> Result<Op> {
    if computed == 2 {
        return match n.op_type.as_str() {
            "Add" => Ok(Op::Add),
            _ => Err(unsupported_usage(
                n,
                "an element-wise product/quotient/difference of two computed tensors has no relevance rule in RLRP.md",
            )),
        };
    }
    // Exactly one computed input: which one?
    let first_is_data = !consts.is_constant(&n.input[0])?;
    let c_ix = if first_is_data { 1 } else { 0 };
    let c = const_input(n, consts, c_ix, "operand")?.ok_or_else(|| unsupported_usage(n, "missing operand"))?;
    let c = broadcast_to(n, &c, x)?;
    let ones = Tensor::ones(ndarray::IxDyn(x));
    let zeros = Tensor::zeros(ndarray::IxDyn(x));
    let (scale, bias) = match (n.op_type.as_str(), first_is_data) {
        ("Add", _) => (ones, c),
        ("Sub", true) => (ones, c.mapv(|v| -v)),
        ("Sub", false) => (ones.mapv(|v| -v), c),
        ("Mul", _) => (c, zeros),
        ("Div", true) => {
            if c.iter().any(|&v| v == 0.0) {
                return Err(unsupported_usage(n, "division by a constant that contains zeros"));
            }
            (c.mapv(|v| 1.0 / v), zeros)
        }
        _ => return Err(unsupported_usage(n, "a constant divided by a computed tensor is not linear")),
    };
    Ok(Op::Linear(Linear::Affine(Affine { scale, bias })))
}
