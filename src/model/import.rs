//! ONNX → explainable [`Graph`]. Two phases: [`trace`] finds the data path from the network input to
//! the logits (which tensors carry data follows from the operator registry, [`super::registry`]:
//! weights, shapes and shape arithmetic are not on it); after tract has inferred every shape (and
//! the values of the shape arithmetic), [`build`] fuses written-out element-wise functions
//! ([`super::fuse`]) and turns each remaining ONNX node on the path into one typed [`Op`], with its
//! constants folded in. Anything without a rule in RLRP.md is an error naming the operator and the node.
use super::constants::{normalise_axis, Constants};
use super::fuse::{self, Unit};
use super::graph::*;
use super::proto::{Attrs, Constant};
use super::registry::{self, DataInputs, OnnxOp};
use crate::error::{Error, Result};
use crate::kernels::conv::Conv2dGeometry;
use crate::kernels::pool::Pool2dGeometry;
use crate::tensor::{into_row_major_vec, ndarray, Tensor};
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::{GraphProto, NodeProto};

/// One ONNX node on the data path, with the output of it that the path uses (Split has several).
#[derive(Clone, Copy)]
pub struct TraceNode<'a> {
    pub proto: &'a NodeProto,
    pub output: usize,
    pub spec: &'static OnnxOp,
}

impl TraceNode<'_> {
    pub fn output_name(&self) -> &str {
        &self.proto.output[self.output]
    }
}

/// The data path of an ONNX graph.
pub struct Trace<'a> {
    /// Nodes on the path from input to output, in topological order.
    pub nodes: Vec<TraceNode<'a>>,
    /// Every tensor name on the path (the input first).
    pub values: Vec<String>,
    /// Tensors the path's nodes read that carry no data and that are not initialisers (shapes,
    /// axes, a class token behind Expand): their shapes, and values where our folding cannot compute
    /// them, come from tract.
    pub statics: Vec<String>,
    /// Further tensors whose shapes the builders need (every output of a Split).
    pub extra_shapes: Vec<String>,
    pub input: String,
    pub output: String,
    /// Which tensors carry data from the network input.
    data: HashSet<String>,
}

impl Trace<'_> {
    pub fn is_data(&self, name: &str) -> bool {
        self.data.contains(name)
    }

    /// The inputs of a node that carry data (registry: which inputs may; data flow: which do).
    pub fn data_inputs(&self, n: &NodeProto, spec: &OnnxOp) -> Vec<String> {
        data_inputs(n, spec, &self.data)
    }

    /// Every tensor whose shape tract must infer: the path, the statics and the extras.
    pub fn shape_names(&self) -> Vec<String> {
        let mut out: Vec<String> = self.values[1..].to_vec();
        out.extend(self.statics.iter().cloned());
        out.extend(self.extra_shapes.iter().cloned());
        out
    }
}

pub(crate) fn node_name(n: &NodeProto) -> String {
    if n.name.is_empty() {
        format!("{}:{}", n.op_type, n.output.first().map(String::as_str).unwrap_or("?"))
    } else {
        n.name.clone()
    }
}

pub(crate) fn unsupported_usage(n: &NodeProto, reason: impl Into<String>) -> Error {
    Error::UnsupportedUsage { op: n.op_type.clone(), node: node_name(n), reason: reason.into() }
}

fn data_inputs(n: &NodeProto, spec: &OnnxOp, data: &HashSet<String>) -> Vec<String> {
    let slots = match spec.data {
        DataInputs::None => 0,
        DataInputs::First => 1,
        DataInputs::All => n.input.len(),
    };
    n.input.iter().take(slots).filter(|i| !i.is_empty() && data.contains(i.as_str())).cloned().collect()
}

/// The tensors that carry data: everything reachable from the network input through inputs the
/// registry marks as data inputs (an unknown operator passes data through all its inputs, so that
/// the trace reaches it and names it). One pass over the readers, no recursion.
fn data_flow(graph: &GraphProto, input: &str) -> HashSet<String> {
    let mut readers: HashMap<&str, Vec<&NodeProto>> = HashMap::new();
    for n in &graph.node {
        for i in &n.input {
            readers.entry(i.as_str()).or_default().push(n);
        }
    }
    let mut data = HashSet::from([input.to_string()]);
    let mut queue = vec![input.to_string()];
    while let Some(t) = queue.pop() {
        for n in readers.get(t.as_str()).into_iter().flatten() {
            let slots = match registry::lookup(n).map(|s| s.data) {
                Some(DataInputs::None) => 0,
                Some(DataInputs::First) => 1,
                _ => n.input.len(),
            };
            if !n.input.iter().take(slots).any(|i| *i == t) {
                continue;
            }
            for o in &n.output {
                if !o.is_empty() && data.insert(o.clone()) {
                    queue.push(o.clone());
                }
            }
        }
    }
    data
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
    let data = data_flow(graph, &input);
    if !data.contains(&output) {
        return Err(Error::InvalidModel(format!("the output '{output}' does not depend on the input '{input}'")));
    }

    // Iterative post-order DFS from the output along data inputs.
    let mut order: Vec<TraceNode> = Vec::new();
    let mut state: HashMap<String, u8> = HashMap::new(); // 1 = visiting, 2 = done
    let mut stack: Vec<(String, bool)> = vec![(output.clone(), false)];
    let mut statics: Vec<String> = Vec::new();
    let mut seen_static: HashSet<String> = HashSet::new();
    let mut extra_shapes: Vec<String> = Vec::new();
    while let Some((name, expanded)) = stack.pop() {
        if name == input {
            state.insert(name, 2);
            continue;
        }
        let producer = consts.producer(&name).ok_or_else(|| {
            Error::InvalidModel(format!("tensor '{name}' is neither the input, an initializer, nor a node output"))
        })?;
        if expanded {
            state.insert(name.clone(), 2);
            let spec = registry::lookup(producer).expect("checked when first visited");
            let out = producer.output.iter().position(|o| *o == name).expect("the producer outputs it");
            order.push(TraceNode { proto: producer, output: out, spec });
            continue;
        }
        match state.get(&name) {
            Some(2) => continue,
            Some(_) => return Err(Error::InvalidModel(format!("the graph has a cycle through '{name}'"))),
            None => {}
        }
        let Some(spec) = registry::lookup(producer) else {
            let op = if producer.domain.is_empty() || producer.domain == "ai.onnx" {
                producer.op_type.clone()
            } else {
                format!("{}.{}", producer.domain, producer.op_type)
            };
            return Err(Error::UnsupportedOperator { op, node: node_name(producer) });
        };
        if spec.build.is_none() {
            return Err(unsupported_usage(producer, "it computes from shapes only, yet its output is used as data"));
        }
        if producer.output.first() != Some(&name) {
            if !spec.multi_output {
                return Err(unsupported_usage(producer, format!("its secondary output '{name}' is used")));
            }
            for o in &producer.output {
                if !o.is_empty() && !extra_shapes.contains(o) {
                    extra_shapes.push(o.clone());
                }
            }
        }
        state.insert(name.clone(), 1);
        stack.push((name.clone(), true));
        let ins = data_inputs(producer, spec, &data);
        for i in &producer.input {
            // Initialisers are known from the file itself (values and shapes).
            if !i.is_empty()
                && !ins.contains(i)
                && !data.contains(i)
                && !consts.is_initializer(i)
                && seen_static.insert(i.clone())
            {
                statics.push(i.clone());
            }
        }
        for i in ins.into_iter().rev() {
            if state.get(&i) != Some(&2) {
                stack.push((i, false));
            }
        }
    }
    let mut values = vec![input.clone()];
    for n in &order {
        values.push(n.output_name().to_string());
    }
    Ok(Trace { nodes: order, values, statics, extra_shapes, input, output, data })
}

/// Everything a builder sees of one node.
pub struct BuildCtx<'c, 'a> {
    pub node: &'a NodeProto,
    /// Which output of the node this op produces (Split).
    pub output: usize,
    pub consts: &'c mut Constants<'a>,
    /// Shapes of the node's data inputs, in order.
    pub ins: Vec<Vec<usize>>,
    /// The data inputs' names.
    pub in_names: Vec<String>,
    pub out: Vec<usize>,
    pub shapes: &'c HashMap<String, Vec<usize>>,
    /// The model's ONNX operator set version (default domain).
    pub opset: i64,
    /// The op types that computed each data input, looking through shape-only operators (gate and
    /// attention detection).
    pub in_sources: Vec<Vec<&'a str>>,
    /// For a product of two computed tensors (MatMul, Einsum): whether each input is attention
    /// weights, i.e. a Softmax computes it within a few steps back.
    pub in_attention: Vec<bool>,
    /// For an element-wise product of two computed tensors: whether each input is an activation's
    /// output (looking through shape-only ops): the gate of a GLU ([`builders::binary`]).
    pub in_activated: Vec<bool>,
}

impl<'a> BuildCtx<'_, 'a> {
    pub(super) fn x(&self) -> &[usize] {
        self.ins.first().map(Vec::as_slice).unwrap_or(&[])
    }
    pub(super) fn err(&self, reason: impl Into<String>) -> Error {
        unsupported_usage(self.node, reason)
    }
    pub(super) fn attrs(&self) -> Attrs<'a> {
        Attrs::of(self.node)
    }
    /// A constant input (checked finite), or None if the slot is empty or absent.
    pub(super) fn constant(&mut self, ix: usize, what: &str) -> Result<Option<Tensor>> {
        const_input(self.node, self.consts, ix, what)
    }
    /// A constant integer input (shapes, axes, indices).
    pub(super) fn ints(&mut self, ix: usize, what: &str) -> Result<Option<Vec<i64>>> {
        match self.node.input.get(ix).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(name) => {
                let c =
                    self.consts.get(name)?.ok_or_else(|| self.err(format!("its {what} ('{name}') is not constant")))?;
                Ok(Some(c.ints.clone().unwrap_or_else(|| c.values.iter().map(|&v| v as i64).collect())))
            }
        }
    }
    /// A static input's shape (an initialiser's, or inferred by tract).
    fn shape_of(&mut self, name: &str) -> Result<Vec<usize>> {
        if let Some(s) = self.shapes.get(name) {
            return Ok(s.clone());
        }
        match self.consts.get(name)? {
            Some(c) => Ok(c.values.shape().to_vec()),
            None => Err(Error::Engine(format!("no shape was inferred for tensor '{name}'"))),
        }
    }
}

/// Operators that only move or relabel data: gate and attention detection looks through them.
const SHAPE_ONLY: &[&str] =
    &["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Dropout", "Cast", "Expand"];

/// Builds the explainable graph from the traced path once shapes are known (phase 2).
pub fn build<'a>(
    trace: &Trace<'a>,
    consts: &mut Constants<'a>,
    shapes: &HashMap<String, Vec<usize>>,
    opset: i64,
) -> Result<Graph> {
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
    let producers: HashMap<&str, usize> = trace.nodes.iter().enumerate().map(|(i, n)| (n.output_name(), i)).collect();
    // The op types behind a value, looking through shape-only operators.
    let sources = |name: &str| -> Vec<&str> {
        let mut out = Vec::new();
        let mut at = name;
        while let Some(&p) = producers.get(at) {
            let n = trace.nodes[p].proto;
            out.push(n.op_type.as_str());
            if !SHAPE_ONLY.contains(&n.op_type.as_str()) {
                break;
            }
            match trace.data_inputs(n, trace.nodes[p].spec).into_iter().next() {
                Some(i) => at = producers.get_key_value(i.as_str()).map(|(k, _)| *k).unwrap_or(""),
                None => break,
            }
        }
        out
    };
    // A Softmax within a few steps behind a value, through any operator but a product of two
    // computed tensors: attention weights mixed or renormalised after their Softmax (CaiT's
    // talking heads, ConViT's gated positional attention) are still attention weights (RLRP.md:
    // "with the Softmax in between"). Breadth first, at most 32 operators.
    let softmax_behind = |name: &str| -> bool {
        let mut queue = std::collections::VecDeque::from([name.to_string()]);
        let mut seen = HashSet::new();
        while let Some(at) = queue.pop_front() {
            let Some(&p) = producers.get(at.as_str()) else { continue };
            if !seen.insert(p) || seen.len() > 32 {
                continue;
            }
            let n = trace.nodes[p].proto;
            if n.op_type == "Softmax" {
                return true;
            }
            let ins = trace.data_inputs(n, trace.nodes[p].spec);
            if !(matches!(n.op_type.as_str(), "MatMul" | "Einsum") && ins.len() == 2) {
                queue.extend(ins);
            }
        }
        false
    };
    let units = fuse::plan(trace, consts, shapes)?;
    let mut nodes: Vec<Node> = Vec::new();
    let mut built_by: HashMap<ValueId, usize> = HashMap::new();
    // Whether an activation computes a value (looking through shape-only ops): ReLU, GELU, SiLU...,
    // or a written-out x ⊙ g(x).
    let activated = |nodes: &[Node], built_by: &HashMap<ValueId, usize>, mut v: ValueId| loop {
        let Some(node) = built_by.get(&v).map(|&k| &nodes[k]) else { return false };
        match &node.op {
            Op::Activation(Activation::Fused(f)) => return f.self_gated,
            Op::Activation(_) => return true,
            op if op.is_shape_only() && !node.inputs.is_empty() => v = node.inputs[0],
            _ => return false,
        }
    };
    for unit in units {
        match unit {
            Unit::Fused { root, output, function, members } => {
                let op_types: Vec<&str> = members.iter().map(|&i| trace.nodes[i].proto.op_type.as_str()).collect();
                let onnx_op = match op_types.as_slice() {
                    [one] => one.to_string(),
                    many => format!("{} ({})", function.name, many.join("+")),
                };
                built_by.insert(ids[&output], nodes.len());
                nodes.push(Node {
                    name: members.last().map(|&i| node_name(trace.nodes[i].proto)).unwrap_or_default(),
                    onnx_op,
                    op: Op::Activation(Activation::Fused(function)),
                    inputs: vec![ids[&root]],
                    output: ids[&output],
                });
            }
            Unit::Node(ix) => {
                let t = trace.nodes[ix];
                let n = t.proto;
                let in_names = trace.data_inputs(n, t.spec);
                let ins: Vec<ValueId> = in_names.iter().map(|i| ids[i]).collect();
                let output = ids[t.output_name()];
                let mut ctx = BuildCtx {
                    node: n,
                    output: t.output,
                    consts,
                    ins: ins.iter().map(|&i| values[i].shape.clone()).collect(),
                    in_sources: in_names.iter().map(|i| sources(i)).collect(),
                    in_activated: match n.op_type.as_str() {
                        "Mul" if ins.len() == 2 => ins.iter().map(|&v| activated(&nodes, &built_by, v)).collect(),
                        _ => Vec::new(),
                    },
                    in_attention: match n.op_type.as_str() {
                        "MatMul" | "Einsum" if in_names.len() == 2 => {
                            in_names.iter().map(|i| softmax_behind(i)).collect()
                        }
                        _ => Vec::new(),
                    },
                    in_names,
                    out: values[output].shape.clone(),
                    shapes,
                    opset,
                };
                let build = t.spec.build.expect("the trace only keeps buildable operators");
                let op = build(&mut ctx)?;
                let name = if t.output > 0 { format!("{}#{}", node_name(n), t.output) } else { node_name(n) };
                built_by.insert(output, nodes.len());
                nodes.push(Node { name, onnx_op: n.op_type.clone(), op, inputs: ins, output });
            }
        }
    }
    Ok(Graph { values, nodes, input: ids[&trace.input], output: ids[&trace.output] })
}

fn invalid_statistics(n: &NodeProto, what: String) -> Error {
    Error::InvalidModel(format!("node '{}' has invalid BatchNorm statistics: {what}", node_name(n)))
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
                Ok(Some(c.values.clone()))
            }
            None => Err(unsupported_usage(n, format!("its {what} ('{name}') is computed, not a constant"))),
        },
    }
}

/// The real interval a QuantizeLinear maps into its integer type without saturating,
/// [(q_min − zero_point)·scale, (q_max − zero_point)·scale]; None unless the scale and zero point
/// are single constants and the type is an 8- or 16-bit integer (then the node stays an identity).
fn quantize_range(n: &NodeProto, consts: &mut Constants) -> Result<Option<(f32, f32)>> {
    let single = |c: Option<std::rc::Rc<Constant>>| {
        c.filter(|c| c.values.len() == 1).map(|c| (c.values.iter().copied().next(), c.data_type))
    };
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

/// The builders the registry names: one per operator family.
pub mod builders {
    use super::*;
    use crate::model::scalar::{Binary, Instr, ScalarFn, Unary};

    pub fn identity(_: &mut BuildCtx) -> Result<Op> {
        Ok(Op::Identity)
    }

    pub fn reshape(_: &mut BuildCtx) -> Result<Op> {
        Ok(Op::Reshape)
    }

    pub fn conv(c: &mut BuildCtx) -> Result<Op> {
        let w = c.constant(1, "weight")?.ok_or_else(|| c.err("no weight"))?;
        let ws = w.shape().to_vec();
        let (cin, h, wd) = spatial(c.node, c.x())?;
        let groups = c.attrs().int("group").unwrap_or(1).max(1) as usize;
        if ws.len() < 3 || ws[1] * groups != cin {
            return Err(c.err(format!("weight shape {ws:?} does not fit {cin} input channels in {groups} groups")));
        }
        let win = window(c.node, &ws[2..], (h, wd))?;
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
        .map_err(|e| c.err(e))?;
        if geometry.output_len() != c.out.iter().product::<usize>() {
            return Err(Error::Engine(format!(
                "Conv '{}': output size disagrees with the engine's {:?}",
                node_name(c.node),
                c.out
            )));
        }
        let bias = match c.constant(2, "bias")? {
            Some(b) => into_row_major_vec(b),
            None => vec![0.0; cout],
        };
        Ok(Op::Linear(Linear::Conv(Conv { geometry, weight: into_row_major_vec(w), bias })))
    }

    /// Gemm, and MatMul with a constant weight (a dense layer over the last axis).
    pub fn gemm(c: &mut BuildCtx) -> Result<Op> {
        let a = c.attrs();
        let w = c.constant(1, "weight (B)")?.ok_or_else(|| c.err("no weight"))?;
        if w.ndim() != 2 {
            return Err(c.err(format!("weight of rank {} (only 2-D weights are supported)", w.ndim())));
        }
        let gemm = c.node.op_type == "Gemm";
        if gemm && a.int("transA").unwrap_or(0) != 0 {
            return Err(c.err("transA = 1 on a computed input"));
        }
        let alpha = if gemm { a.float("alpha").unwrap_or(1.0) } else { 1.0 };
        let beta = if gemm { a.float("beta").unwrap_or(1.0) } else { 1.0 };
        // Row-major again after the transposition: the weights are read in logical order below.
        let w = if gemm && a.int("transB").unwrap_or(0) != 0 { w.t().as_standard_layout().into_owned() } else { w };
        let (k, nn) = (w.shape()[0], w.shape()[1]);
        let x = c.x().to_vec();
        if x.last() != Some(&k) {
            return Err(c.err(format!("input shape {x:?} does not end in the weight's {k} rows")));
        }
        let rows = x.iter().product::<usize>() / k.max(1);
        if gemm && x.len() != 2 {
            return Err(c.err(format!("Gemm input of rank {}", x.len())));
        }
        let bias = match if gemm { c.constant(2, "bias (C)")? } else { None } {
            Some(bc) => {
                let b = broadcast_to(c.node, &bc, &[rows, nn])?;
                let first: Vec<f32> = b.iter().take(nn).copied().collect();
                if b.iter().enumerate().any(|(i, &v)| v != first[i % nn]) {
                    return Err(c.err("a bias C that varies across rows"));
                }
                first.iter().map(|v| v * beta).collect()
            }
            None => vec![0.0; nn],
        };
        let mut weight = into_row_major_vec(w);
        if alpha != 1.0 {
            weight.iter_mut().for_each(|v| *v *= alpha);
        }
        Ok(Op::Linear(Linear::Dense(Dense { rows, k, n: nn, weight, bias })))
    }

    /// MatMul: with a constant weight a dense layer; of two computed tensors, attention mixing when
    /// one side is computed by a Softmax (RLRP.md), otherwise a bilinear product.
    pub fn matmul(c: &mut BuildCtx) -> Result<Op> {
        if c.ins.len() < 2 {
            return gemm(c);
        }
        let (a, b) = (&c.ins[0], &c.ins[1]);
        if a.len() < 2 || b.len() < 2 || a.len() != b.len() || a[..a.len() - 2] != b[..b.len() - 2] {
            return Err(c.err(format!(
                "a product of computed tensors of shapes {a:?} and {b:?} (only equal batch dimensions are supported)"
            )));
        }
        Ok(Op::MatMul { weights: attention_weights(c, false), transpose_b: false })
    }

    /// Which input of a product is attention weights (computed by a Softmax, directly or within a
    /// few steps), if exactly one is; a transposed right operand cannot be (it would mix along the
    /// other axis).
    fn attention_weights(c: &BuildCtx, transpose_b: bool) -> Option<usize> {
        let from_softmax = |i: usize| c.in_attention.get(i).copied().unwrap_or(false);
        match (from_softmax(0), from_softmax(1)) {
            (true, false) => Some(0),
            (false, true) if !transpose_b => Some(1),
            _ => None,
        }
    }

    /// Einsum of two computed tensors that is a batched matrix product: `P ij, P jk -> P ik` or
    /// `P ij, P kj -> P ik` (P: the same batch letters in the same order), as attention is written
    /// (MaxViT). Any other equation is refused, naming it.
    pub fn einsum(c: &mut BuildCtx) -> Result<Op> {
        let eq = c.attrs().string("equation").unwrap_or_default();
        let clean: String = eq.chars().filter(|ch| !ch.is_whitespace()).collect();
        let refuse = |c: &BuildCtx| {
            c.err(format!("the equation '{eq}' is not a batched matrix product of two computed tensors"))
        };
        let Some((lhs, out)) = clean.split_once("->") else { return Err(refuse(c)) };
        let terms: Vec<Vec<char>> = lhs.split(',').map(|t| t.chars().collect()).collect();
        let out: Vec<char> = out.chars().collect();
        if c.ins.len() != 2 || terms.len() != 2 || c.node.input.len() != 2 {
            return Err(refuse(c));
        }
        let (a, b) = (&terms[0], &terms[1]);
        let r = a.len();
        if r < 2 || b.len() != r || out.len() != r || a[..r - 2] != b[..r - 2] || a[..r - 2] != out[..r - 2] {
            return Err(refuse(c));
        }
        let (i, j) = (a[r - 2], a[r - 1]);
        let transpose_b = if b[r - 2] == j && out[r - 1] == b[r - 1] {
            false
        } else if b[r - 1] == j && out[r - 1] == b[r - 2] {
            true
        } else {
            return Err(refuse(c));
        };
        let distinct = |v: &[char]| v.iter().all(|x| v.iter().filter(|y| *y == x).count() == 1);
        if out[r - 2] != i
            || !distinct(a)
            || !distinct(&out)
            || c.ins[0].len() != r
            || c.ins[1].len() != r
            || c.ins[0][..r - 2] != c.ins[1][..r - 2]
        {
            return Err(refuse(c));
        }
        Ok(Op::MatMul { weights: attention_weights(c, transpose_b), transpose_b })
    }

    pub fn batch_norm(c: &mut BuildCtx) -> Result<Op> {
        let get = |c: &mut BuildCtx, i: usize, what: &str| -> Result<Vec<f32>> {
            Ok(into_row_major_vec(c.constant(i, what)?.ok_or_else(|| c.err(format!("missing {what}")))?))
        };
        let (gamma, beta, mean, var) =
            (get(c, 1, "scale")?, get(c, 2, "bias")?, get(c, 3, "mean")?, get(c, 4, "variance")?);
        let eps = c.attrs().float("epsilon").unwrap_or(1e-5);
        let x = c.x().to_vec();
        let ch = *x.get(1).ok_or_else(|| c.err("input of rank < 2"))?;
        if [&gamma, &beta, &mean, &var].iter().any(|v| v.len() != ch) {
            return Err(c.err("parameter length differs from the channel count"));
        }
        if !eps.is_finite() || eps < 0.0 {
            return Err(invalid_statistics(c.node, format!("epsilon is {eps}")));
        }
        if let Some(i) = (0..ch).find(|&i| (var[i] + eps).partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)) {
            return Err(invalid_statistics(
                c.node,
                format!("channel {i} has variance {} (+ epsilon {eps}); a variance is never negative", var[i]),
            ));
        }
        let scale: Vec<f32> = (0..ch).map(|i| gamma[i] / (var[i] + eps).sqrt()).collect();
        let shift: Vec<f32> = (0..ch).map(|i| beta[i] - mean[i] * scale[i]).collect();
        check_finite(c.node, &scale)?;
        check_finite(c.node, &shift)?;
        channel_affine(c.node, &x, &scale, &shift)
    }

    pub fn clip(n: &NodeProto, consts: &mut Constants) -> Result<Unary> {
        let mut scalar = |i: usize| -> Result<Option<f32>> {
            Ok(const_input(n, consts, i, "bound")?.and_then(|t| t.iter().next().copied()))
        };
        let a = Attrs::of(n);
        let min = scalar(1)?.or(a.float("min")).unwrap_or(f32::NEG_INFINITY);
        let max = scalar(2)?.or(a.float("max")).unwrap_or(f32::INFINITY);
        Ok(Unary::Act(Activation::Clip { min, max }))
    }

    /// Gelu (opset 20): exact, or its tanh approximation written as a program.
    pub fn gelu(n: &NodeProto, _: &mut Constants) -> Result<Unary> {
        match Attrs::of(n).string("approximate").as_deref().unwrap_or("none") {
            "none" => Ok(Unary::Act(Activation::Gelu)),
            "tanh" => {
                let k = (2.0f32 / std::f32::consts::PI).sqrt();
                Ok(Unary::Act(Activation::Fused(ScalarFn::new(vec![
                    Instr::Input,                                  // 0 x
                    Instr::Binary(Binary::Mul, 0, 0),              // 1 x²
                    Instr::Binary(Binary::Mul, 1, 0),              // 2 x³
                    Instr::Const(0.044715),                        // 3
                    Instr::Binary(Binary::Mul, 2, 3),              // 4
                    Instr::Binary(Binary::Add, 0, 4),              // 5
                    Instr::Const(k),                               // 6
                    Instr::Binary(Binary::Mul, 5, 6),              // 7
                    Instr::Unary(Unary::Act(Activation::Tanh), 7), // 8
                    Instr::Const(1.0),                             // 9
                    Instr::Binary(Binary::Add, 8, 9),              // 10
                    Instr::Binary(Binary::Mul, 0, 10),             // 11
                    Instr::Const(0.5),                             // 12
                    Instr::Binary(Binary::Mul, 11, 12),            // 13
                ]))))
            }
            other => Err(unsupported_usage(n, format!("approximate = '{other}'"))),
        }
    }

    /// A unary element-wise operator that was not fused: a named activation, or a one-step program.
    pub fn unary(c: &mut BuildCtx) -> Result<Op> {
        let spec = registry::lookup(c.node).expect("built from the registry");
        let registry::Scalar::Unary(f) = spec.scalar else { unreachable!("unary entries have a unary scalar") };
        Ok(match f(c.node, c.consts)? {
            Unary::Act(a) => Op::Activation(a),
            u => Op::Activation(Activation::Fused(ScalarFn::new(vec![Instr::Input, Instr::Unary(u, 0)]))),
        })
    }

    /// Add/Sub/Mul/Div/Pow/Max/Min that were not fused into an element-wise function: of two
    /// computed tensors (Add: a skip connection; Sub of a mean: the centring; Mul/Div: a gate), or
    /// with a constant (part of a linear layer: a bias or a diagonal weight, RLRP.md).
    pub fn binary(c: &mut BuildCtx) -> Result<Op> {
        if c.ins.len() == 2 {
            return two_computed(c);
        }
        let x = c.x().to_vec();
        let first_is_data = c.node.input.first().is_some_and(|i| *i == c.in_names[0]);
        let c_ix = if first_is_data { 1 } else { 0 };
        let k = c.constant(c_ix, "operand")?.ok_or_else(|| c.err("missing operand"))?;
        if k.ndim() > x.len() || k.shape().iter().rev().zip(x.iter().rev()).any(|(&a, &b)| a != 1 && a != b) {
            return Err(c.err(format!("constant of shape {:?} does not broadcast to the input shape {x:?}", k.shape())));
        }
        let op = c.node.op_type.as_str();
        if matches!(op, "Pow" | "Max" | "Min") {
            // A scalar constant: a one-step element-wise function; anything else has no rule.
            let Some(&v) = (k.len() == 1).then(|| k.iter().next()).flatten() else {
                return Err(c.err("an element-wise power/max/min with a non-scalar constant"));
            };
            let b = match op {
                "Pow" => Binary::Pow,
                "Max" => Binary::Max,
                _ => Binary::Min,
            };
            let instrs = if first_is_data {
                vec![Instr::Input, Instr::Const(v), Instr::Binary(b, 0, 1)]
            } else {
                vec![Instr::Const(v), Instr::Input, Instr::Binary(b, 0, 1)]
            };
            return Ok(Op::Activation(Activation::Fused(ScalarFn::new(instrs))));
        }
        let k = broadcast_to(c.node, &k, &x)?;
        let ones = Tensor::ones(ndarray::IxDyn(&x));
        let zeros = Tensor::zeros(ndarray::IxDyn(&x));
        let (scale, bias) = match (op, first_is_data) {
            ("Add", _) => (ones, k),
            ("Sub", true) => (ones, k.mapv(|v| -v)),
            ("Sub", false) => (ones.mapv(|v| -v), k),
            ("Mul", _) => (k, zeros),
            ("Div", true) => {
                if k.iter().any(|&v| v == 0.0) {
                    return Err(c.err("division by a constant that contains zeros"));
                }
                (k.mapv(|v| 1.0 / v), zeros)
            }
            _ => return Err(c.err("a constant divided by a computed tensor is not linear")),
        };
        Ok(Op::Linear(Linear::Affine(Affine { scale, bias })))
    }

    fn two_computed(c: &mut BuildCtx) -> Result<Op> {
        let full = |i: usize| c.ins[i] == c.out;
        match c.node.op_type.as_str() {
            "Add" if full(0) && full(1) => Ok(Op::Add { subtract: false }),
            "Sub" if full(0) && full(1) => Ok(Op::Add { subtract: true }),
            "Sub" => centring(c),
            "Mul" => {
                let gate = match (full(0), full(1)) {
                    (true, false) => 1,
                    (false, true) => 0,
                    (true, true) => {
                        // A Sigmoid, HardSigmoid, Tanh or Softmax output; failing that, an
                        // activation's output (GLU's GEGLU and SwiGLU variants: the activated half
                        // gates the other).
                        let squashed = |i: usize| {
                            matches!(c.in_sources[i].last(), Some(&("Sigmoid" | "HardSigmoid" | "Softmax" | "Tanh")))
                        };
                        let activated = |i: usize| c.in_activated.get(i).copied().unwrap_or(false);
                        match ((squashed(0), squashed(1)), (activated(0), activated(1))) {
                            ((false, true), _) | ((false, false), (false, true)) => 1,
                            ((true, false), _) | ((false, false), (true, false)) => 0,
                            _ => {
                                return Err(c.err(
                                    "a product of two computed tensors where neither is recognisably the gate (a Sigmoid, HardSigmoid, Tanh or Softmax output, else the one activation output, or a tensor broadcast over the other) has no relevance rule in RLRP.md",
                                ))
                            }
                        }
                    }
                    (false, false) => return Err(c.err("a product of two broadcast computed tensors")),
                };
                check_broadcasts(c, gate)?;
                Ok(Op::Gate { gate, divide: false })
            }
            "Div" if full(0) => {
                check_broadcasts(c, 1)?;
                Ok(Op::Gate { gate: 1, divide: true })
            }
            _ => Err(c.err(format!(
                "an element-wise {} of two computed tensors of shapes {:?} and {:?} has no relevance rule in RLRP.md",
                c.node.op_type, c.ins[0], c.ins[1]
            ))),
        }
    }

    fn check_broadcasts(c: &BuildCtx, gate: usize) -> Result<()> {
        let (g, x) = (&c.ins[gate], &c.out);
        if g.len() > x.len() || g.iter().rev().zip(x.iter().rev()).any(|(&a, &b)| a != 1 && a != b) {
            return Err(c.err(format!("gate of shape {g:?} does not broadcast to {x:?}")));
        }
        Ok(())
    }

    /// `Sub(x, ReduceMean(x, axes, keepdims = 1))`: the centring of a written-out LayerNorm.
    fn centring(c: &mut BuildCtx) -> Result<Op> {
        let refuse = |c: &BuildCtx| {
            c.err(format!(
                "a difference of two computed tensors of shapes {:?} and {:?} has no relevance rule in RLRP.md (of differences that broadcast, only x − mean(x) has one)",
                c.ins[0], c.ins[1]
            ))
        };
        let Some(mean_node) = c.consts.producer(&c.in_names[1]) else { return Err(refuse(c)) };
        if mean_node.op_type != "ReduceMean" || mean_node.input.first() != Some(&c.in_names[0]) || c.ins[0] != c.out {
            return Err(refuse(c));
        }
        let x = c.x().to_vec();
        let axes = reduce_axes(mean_node, c.consts, x.len())?;
        if Attrs::of(mean_node).int("keepdims").unwrap_or(1) == 0 {
            return Err(refuse(c));
        }
        let (first, last) = contiguous(mean_node, &axes)?;
        Ok(Op::Linear(Linear::Centre(Axes3::of(&x, first, last))))
    }

    pub fn pool(c: &mut BuildCtx) -> Result<Op> {
        let a = c.attrs();
        let (ch, h, w) = spatial(c.node, c.x())?;
        let kernel: Vec<usize> =
            a.ints("kernel_shape").unwrap_or_default().iter().map(|&k| k.max(0) as usize).collect();
        let win = window(c.node, &kernel, (h, w))?;
        let max = c.node.op_type == "MaxPool";
        let g = Pool2dGeometry::new(
            ch,
            h,
            w,
            win.kernel,
            win.stride,
            if max { win.dilation } else { (1, 1) },
            win.pads,
            a.int("ceil_mode").unwrap_or(0) != 0,
            a.int("count_include_pad").unwrap_or(0) != 0,
        )
        .map_err(|e| c.err(e))?;
        if g.channels * g.out_h * g.out_w != c.out.iter().product::<usize>() {
            return Err(Error::Engine(format!(
                "{} '{}': output size disagrees with the engine's {:?}",
                c.node.op_type,
                node_name(c.node),
                c.out
            )));
        }
        Ok(if max { Op::MaxPool(g) } else { Op::Linear(Linear::AvgPool(g)) })
    }

    pub fn global_average_pool(c: &mut BuildCtx) -> Result<Op> {
        let x = c.x();
        let ch = *x.get(1).ok_or_else(|| c.err("input of rank < 2"))?;
        Ok(Op::Linear(Linear::GlobalAvgPool { channels: ch, hw: x[2..].iter().product() }))
    }

    pub fn global_max_pool(c: &mut BuildCtx) -> Result<Op> {
        let x = c.x();
        if x.len() < 3 {
            return Err(c.err("input of rank < 3"));
        }
        Ok(Op::ReduceMax(Axes3::of(x, 2, x.len() - 1)))
    }

    /// The axes of a Reduce* node (attribute, or input 1 from opset 13/18), normalised and sorted.
    fn reduce_axes(n: &NodeProto, consts: &mut Constants, rank: usize) -> Result<Vec<usize>> {
        let a = Attrs::of(n);
        let given = match a.ints("axes") {
            Some(v) => Some(v),
            None => match n.input.get(1).filter(|s| !s.is_empty()) {
                Some(name) => Some(
                    consts
                        .get(name)?
                        .and_then(|c| c.ints.clone())
                        .ok_or_else(|| unsupported_usage(n, "its axes are not constant"))?,
                ),
                None => None,
            },
        };
        let mut axes: Vec<usize> = match given {
            Some(v) if !v.is_empty() => v
                .iter()
                .map(|&i| normalise_axis(i, rank))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| unsupported_usage(n, e))?,
            _ if a.int("noop_with_empty_axes").unwrap_or(0) != 0 => Vec::new(),
            _ => (0..rank).collect(),
        };
        axes.sort_unstable();
        axes.dedup();
        Ok(axes)
    }

    fn contiguous(n: &NodeProto, axes: &[usize]) -> Result<(usize, usize)> {
        match (axes.first(), axes.last()) {
            (Some(&f), Some(&l)) if l - f + 1 == axes.len() => Ok((f, l)),
            _ => Err(unsupported_usage(n, format!("reduction over the non-contiguous axes {axes:?}"))),
        }
    }

    /// ReduceMean / ReduceSum (linear layers, RLRP.md), ReduceMax (winner takes all) and ReduceL2
    /// (a normaliser's statistic: gradients only).
    pub fn reduce(c: &mut BuildCtx) -> Result<Op> {
        let x = c.x().to_vec();
        let axes = reduce_axes(c.node, c.consts, x.len())?;
        if axes.is_empty() {
            return Ok(Op::Identity);
        }
        let (first, last) = contiguous(c.node, &axes)?;
        let a3 = Axes3::of(&x, first, last);
        Ok(match c.node.op_type.as_str() {
            "ReduceMean" => Op::Linear(Linear::Reduce { axes: a3, scale: 1.0 / a3.n.max(1) as f32 }),
            "ReduceSum" => Op::Linear(Linear::Reduce { axes: a3, scale: 1.0 }),
            "ReduceL2" => Op::ReduceL2(a3),
            _ => Op::ReduceMax(a3),
        })
    }

    pub fn layer_norm(c: &mut BuildCtx) -> Result<Op> {
        let x = c.x().to_vec();
        let axis = normalise_axis(c.attrs().int("axis").unwrap_or(-1), x.len()).map_err(|e| c.err(e))?;
        let epsilon = c.attrs().float("epsilon").unwrap_or(1e-5);
        let normalised = &x[axis..];
        let param = |c: &mut BuildCtx, ix: usize, what: &str, default: f32| -> Result<Tensor> {
            let t = c.constant(ix, what)?.unwrap_or_else(|| Tensor::from_elem(ndarray::IxDyn(&[1]), default));
            let t = broadcast_to(c.node, &t, normalised)?;
            broadcast_to(c.node, &t, &x)
        };
        let gamma = param(c, 1, "scale", 1.0)?;
        let beta = param(c, 2, "bias", 0.0)?;
        Ok(Op::LayerNorm(LayerNorm { axes: Axes3::of(&x, axis, x.len() - 1), epsilon, gamma, beta }))
    }

    /// InstanceNormalization (and GroupNorm, which exporters write as one over [N, groups, rest]):
    /// a LayerNorm over every axis after the channels, with γ and β per channel (RLRP.md's
    /// LayerNormalization row: the same centring, constant standard deviation and diagonal affine).
    pub fn instance_norm(c: &mut BuildCtx) -> Result<Op> {
        let x = c.x().to_vec();
        if x.len() < 3 {
            return Err(
                c.err(format!("InstanceNormalization of an input of rank {} (at least 3: N, C, spatial)", x.len()))
            );
        }
        let epsilon = c.attrs().float("epsilon").unwrap_or(1e-5);
        let mut per_channel = vec![1; x.len()];
        per_channel[1] = x[1];
        let param = |c: &mut BuildCtx, ix: usize, what: &str| -> Result<Tensor> {
            let t = c.constant(ix, what)?.ok_or_else(|| c.err(format!("its {what} is not a constant")))?;
            if t.len() != x[1] {
                return Err(c.err(format!("its {what} has {} values for {} channels", t.len(), x[1])));
            }
            let t = t.into_shape_with_order(ndarray::IxDyn(&per_channel)).map_err(|e| c.err(e.to_string()))?;
            broadcast_to(c.node, &t, &x)
        };
        let gamma = param(c, 1, "scale")?;
        let beta = param(c, 2, "bias")?;
        Ok(Op::LayerNorm(LayerNorm { axes: Axes3::of(&x, 2, x.len() - 1), epsilon, gamma, beta }))
    }

    /// LRN across the channels of an [N, C, ...] input ([`Lrn`]).
    pub fn lrn(c: &mut BuildCtx) -> Result<Op> {
        let x = c.x().to_vec();
        if x.len() < 3 {
            return Err(c.err(format!("LRN of an input of rank {} (at least 3: N, C, spatial)", x.len())));
        }
        let a = c.attrs();
        let size = a.int("size").ok_or_else(|| c.err("LRN without its 'size' attribute"))?;
        // (a window wider than the channels is clipped to them; the bound only keeps `size` a size)
        if !(1..=1 << 20).contains(&size) {
            return Err(c.err(format!("LRN size {size} (1 to 2²⁰)")));
        }
        let (alpha, beta, bias) =
            (a.float("alpha").unwrap_or(1e-4), a.float("beta").unwrap_or(0.75), a.float("bias").unwrap_or(1.0));
        if ![alpha, beta, bias].iter().all(|v| v.is_finite()) {
            return Err(c.err(format!("LRN with alpha {alpha}, beta {beta}, bias {bias}")));
        }
        Ok(Op::Lrn(Lrn { size: size as usize, alpha, beta, bias }))
    }

    pub fn transpose(c: &mut BuildCtx) -> Result<Op> {
        let x = c.x().to_vec();
        let perm: Vec<usize> = match c.attrs().ints("perm") {
            Some(p) => p
                .iter()
                .map(|&i| normalise_axis(i, x.len()))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| c.err(e))?,
            None => (0..x.len()).rev().collect(),
        };
        let mut seen = vec![false; x.len()];
        if perm.len() != x.len() || perm.iter().any(|&p| std::mem::replace(&mut seen[p], true)) {
            return Err(c.err(format!("perm {perm:?} is not a permutation of {} axes", x.len())));
        }
        Ok(Op::Transpose(perm))
    }

    /// Concat of computed tensors, and of constants (a class token), which take no relevance.
    pub fn concat(c: &mut BuildCtx) -> Result<Op> {
        let rank = c.out.len();
        let axis = normalise_axis(c.attrs().int("axis").unwrap_or(0), rank).map_err(|e| c.err(e))?;
        let mut pieces = Vec::new();
        let mut k = 0;
        let node = c.node;
        for name in node.input.iter().filter(|s| !s.is_empty()) {
            if c.in_names.get(k) == Some(name) {
                pieces.push(Piece::Input(k));
                k += 1;
            } else {
                let len = *c.shape_of(name)?.get(axis).ok_or_else(|| c.err("a constant of another rank"))?;
                pieces.push(Piece::Constant(len));
            }
        }
        Ok(Op::Concat { axis, pieces })
    }

    /// Split output `k`: a slice along the axis, after the outputs before it.
    pub fn split(c: &mut BuildCtx) -> Result<Op> {
        let x = c.x().to_vec();
        let axis = normalise_axis(c.attrs().int("axis").unwrap_or(0), x.len()).map_err(|e| c.err(e))?;
        let mut start = 0;
        let node = c.node;
        for name in &node.output[..c.output] {
            start += c.shape_of(name)?.get(axis).copied().unwrap_or(0);
        }
        if start + c.out.get(axis).copied().unwrap_or(0) > x[axis] {
            return Err(c.err("its outputs are longer than its input"));
        }
        Ok(Op::Slice(vec![AxisRange { axis, start, step: 1 }]))
    }

    /// Slice with constant starts/ends/axes/steps (inputs from opset 10, attributes before).
    pub fn slice(c: &mut BuildCtx) -> Result<Op> {
        let x = c.x().to_vec();
        let a = c.attrs();
        let (starts, ends, axes, steps) = if c.node.input.len() > 1 {
            (c.ints(1, "starts")?, c.ints(2, "ends")?, c.ints(3, "axes")?, c.ints(4, "steps")?)
        } else {
            (a.ints("starts"), a.ints("ends"), a.ints("axes"), None)
        };
        let (Some(starts), Some(ends)) = (starts, ends) else { return Err(c.err("no starts or ends")) };
        let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(c.err("starts, ends, axes and steps differ in length"));
        }
        let mut ranges = Vec::new();
        for i in 0..starts.len() {
            let axis = normalise_axis(axes[i], x.len()).map_err(|e| c.err(e))?;
            let dim = x[axis] as i64;
            if steps[i] <= 0 {
                return Err(c.err("a slice with a negative or zero step"));
            }
            let clamp = |v: i64| if v < 0 { v.saturating_add(dim).max(0) } else { v.min(dim) };
            let (start, end) = (clamp(starts[i]), clamp(ends[i]));
            // In i128: a step near i64::MAX must not overflow.
            let len = if end > start { ((end - start) as i128 + steps[i] as i128 - 1) / steps[i] as i128 } else { 0 };
            if c.out.get(axis).map(|&d| d as i128) != Some(len) {
                return Err(Error::Engine(format!(
                    "Slice '{}': {len} elements on axis {axis} disagree with the engine's shape {:?}",
                    node_name(c.node),
                    c.out
                )));
            }
            ranges.push(AxisRange { axis, start: start as usize, step: steps[i] as usize });
        }
        Ok(Op::Slice(ranges))
    }

    /// Gather with constant indices (the class token: position 0).
    pub fn gather(c: &mut BuildCtx) -> Result<Op> {
        let x = c.x().to_vec();
        let axis = normalise_axis(c.attrs().int("axis").unwrap_or(0), x.len()).map_err(|e| c.err(e))?;
        let idx = c.ints(1, "indices")?.ok_or_else(|| c.err("no indices"))?;
        let dim = x[axis] as i64;
        let indices = idx
            .iter()
            .map(|&i| {
                let j = if i < 0 { i.saturating_add(dim) } else { i };
                (0..dim)
                    .contains(&j)
                    .then_some(j as usize)
                    .ok_or_else(|| c.err(format!("index {i} is out of range for {dim}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let expected = x.iter().product::<usize>() / x[axis].max(1) * indices.len();
        if expected != c.out.iter().product::<usize>() {
            return Err(Error::Engine(format!(
                "Gather '{}': output size disagrees with the engine's",
                node_name(c.node)
            )));
        }
        Ok(Op::Gather { axis, indices })
    }

    /// Expand of a computed tensor.
    pub fn broadcast(c: &mut BuildCtx) -> Result<Op> {
        let (x, out) = (c.x(), &c.out);
        if x.len() > out.len() || x.iter().rev().zip(out.iter().rev()).any(|(&a, &b)| a != 1 && a != b) {
            return Err(c.err(format!("shape {x:?} does not broadcast to {out:?}")));
        }
        Ok(Op::Broadcast)
    }

    /// Tile of a computed tensor: every output axis a whole multiple of the input's.
    pub fn tile(c: &mut BuildCtx) -> Result<Op> {
        let (x, out) = (c.x(), &c.out);
        if x.len() != out.len() || x.iter().zip(out).any(|(&a, &b)| a == 0 || b % a != 0) {
            return Err(c.err(format!("shape {x:?} does not tile to {out:?}")));
        }
        Ok(Op::Tile)
    }

    pub fn pad(c: &mut BuildCtx) -> Result<Op> {
        let x = c.x().to_vec();
        let mode = c.attrs().string("mode").unwrap_or_else(|| "constant".into());
        if mode != "constant" {
            return Err(c.err(format!("pad mode '{mode}' (only constant padding has a rule)")));
        }
        let pads: Vec<i64> = match c.attrs().ints("pads") {
            Some(p) => p,
            None => c.ints(1, "pads")?.ok_or_else(|| c.err("pads are not constant"))?,
        };
        if c.node.input.get(3).is_some_and(|s| !s.is_empty()) {
            return Err(c.err("the axes input of Pad"));
        }
        let r = x.len();
        if pads.len() != 2 * r || pads.iter().any(|&p| !(0..=crate::budget::MAX_PAD).contains(&p)) {
            return Err(c.err(format!(
                "pads {pads:?} for rank {r} (each must be in 0..={}: negative pads are not supported)",
                crate::budget::MAX_PAD
            )));
        }
        Ok(Op::Pad((0..r).map(|i| (pads[i] as usize, pads[i + r] as usize)).collect()))
    }

    /// Softmax: removed at the end of the network (RLRP.md, "Start"), attention weights inside.
    /// LogSoftmax is allowed only at the end.
    pub fn softmax(c: &mut BuildCtx) -> Result<Op> {
        if c.node.op_type == "LogSoftmax" {
            return Ok(Op::Identity);
        }
        let rank = c.x().len();
        let axis = normalise_axis(c.attrs().int("axis").unwrap_or(-1), rank).map_err(|e| c.err(e))?;
        Ok(Op::Softmax { axis })
    }

    pub fn quantize(c: &mut BuildCtx) -> Result<Op> {
        Ok(match quantize_range(c.node, c.consts)? {
            Some((min, max)) => Op::Saturate { min, max },
            None => Op::Identity,
        })
    }
}
