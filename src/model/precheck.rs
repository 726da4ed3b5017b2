//! What tract (0.23) panics, loops or runs out of memory on, refused before it sees the model (raw
//! tensors of the wrong length or an unknown type, window attributes, constant inputs, a
//! LayerNormalization's axis): in the browser's worker a panic is an abort and a loop a hung
//! engine, so every case caught here is a clear error instead. Each check reads only the node's
//! attributes and constant inputs (and, for LayerNormalization, its input's rank), whatever the
//! operator's later fate (the registry decides what is supported). Found by fuzzing (issue 13; the
//! regression inputs are in `tests/native/hostile.rs`). Not part of the method: RLRP.md says nothing of it.
use super::constants::{is_training_batch_norm, Constants};
use super::import::{node_name, Trace};
use super::prefold;
use super::proto::Attrs;
use crate::budget::{MAX_PAD, MAX_TENSOR_ELEMENTS};
use crate::error::{Error, Result};
use tract_onnx::pb::{GraphProto, NodeProto};

/// Operators with a sliding window (kernel_shape, strides, dilations, pads over the spatial axes).
const WINDOWED: &[&str] = &["Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "ConvInteger", "QLinearConv"];
/// Operators that read a channel axis (axis 1) of their data input.
const CHANNELLED: &[&str] =
    &["BatchNormalization", "InstanceNormalization", "LRN", "GlobalAveragePool", "GlobalMaxPool"];
/// The smallest rank of a windowed or channelled operator's data input: N, C and (but for
/// BatchNormalization) one spatial axis.
fn least_rank(op: &str) -> usize {
    if op == "BatchNormalization" {
        2
    } else {
        3
    }
}
/// Largest kernel, stride or dilation.
const MAX_WINDOW: i64 = 1 << 16;
/// Largest Resize scale.
const MAX_RESIZE_SCALE: f32 = 65536.0;

fn invalid(n: &NodeProto, what: String) -> Error {
    Error::InvalidModel(format!("node '{}' ({}): {what}", node_name(n), n.op_type))
}

/// Checks every node and initialiser of `graph`.
pub fn check(graph: &GraphProto, consts: &mut Constants, trace: &Trace, opset: i64) -> Result<()> {
    single_assignment_and_acyclic(graph)?;
    for t in &graph.initializer {
        tensor(t).map_err(|e| Error::InvalidModel(format!("initializer '{}': {e}", t.name)))?;
    }
    let mut read = None;
    for n in &graph.node {
        for t in n.attribute.iter().filter_map(|a| a.t.as_ref()) {
            tensor(t).map_err(|e| invalid(n, format!("its tensor attribute: {e}")))?;
        }
        attribute_ranges(n)?;
        if WINDOWED.contains(&n.op_type.as_str()) {
            window_lengths(n, consts)?;
        }
        // (a training-mode BatchNormalization of a constant is weight standardisation, folded into
        // an initialiser before tract sees the model: `prefold`)
        let standardisation = is_training_batch_norm(n) && {
            let read = read.get_or_insert_with(|| prefold::read_names(graph));
            prefold::folds(n, consts, read)
        };
        if is_training_batch_norm(n) && !standardisation {
            training_batch_norm(n, consts, trace)?;
        }
        // (a windowed or channelled operator of a constant is checked on the part tract sees:
        // `constant_data_inputs`)
        constant_inputs(n, consts, opset)?;
    }
    Ok(())
}

/// Every value is produced once (by a node, an initialiser or a graph input) and no node depends on
/// its own output, also off the data path: tract's shape inference ran on a BatchNorm that read its
/// own output (found by fuzzing) and indexed a shape out of bounds. Kahn's algorithm, no recursion.
fn single_assignment_and_acyclic(graph: &GraphProto) -> Result<()> {
    use std::collections::HashMap;
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let outside: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).chain(graph.input.iter().map(|i| i.name.as_str())).collect();
    for (ix, n) in graph.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if outside.contains(o.as_str()) || producer.insert(o.as_str(), ix).is_some() {
                return Err(invalid(n, format!("its output '{o}' is produced twice (an ONNX value has one producer)")));
            }
        }
    }
    let mut waiting = vec![0usize; graph.node.len()];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); graph.node.len()];
    for (ix, n) in graph.node.iter().enumerate() {
        for p in n.input.iter().filter_map(|i| producer.get(i.as_str())) {
            waiting[ix] += 1;
            readers[*p].push(ix);
        }
    }
    let mut ready: Vec<usize> = (0..graph.node.len()).filter(|&i| waiting[i] == 0).collect();
    let mut done = 0;
    while let Some(ix) = ready.pop() {
        done += 1;
        for &r in &readers[ix] {
            waiting[r] -= 1;
            if waiting[r] == 0 {
                ready.push(r);
            }
        }
    }
    if done < graph.node.len() {
        let stuck = (0..graph.node.len()).find(|&i| waiting[i] > 0).map(|i| &graph.node[i]);
        let n = stuck.unwrap_or(&graph.node[0]);
        return Err(invalid(n, "it depends on its own output (the graph has a cycle)".into()));
    }
    Ok(())
}

/// ONNX element types tract can read from raw bytes, with their sizes.
fn element_size(data_type: i32) -> Option<u64> {
    Some(match data_type {
        2 | 3 | 9 => 1,   // uint8, int8, bool
        4 | 5 | 10 => 2,  // uint16, int16, float16
        1 | 6 | 12 => 4,  // float, int32, uint32
        7 | 11 | 13 => 8, // int64, double, uint64
        _ => return None,
    })
}

/// A tensor's dims are non-negative and within the element budget, its element type is one tract
/// reads (it panics on others), and raw data, if any, is exactly as long as the dims say.
fn tensor(t: &tract_onnx::pb::TensorProto) -> std::result::Result<(), String> {
    let count = t.dims.iter().try_fold(1u64, |acc, &d| u64::try_from(d).ok().and_then(|d| acc.checked_mul(d)));
    let count = match count {
        Some(c) if c <= MAX_TENSOR_ELEMENTS => c,
        _ => {
            return Err(format!("dims {:?} are negative or over the budget of {MAX_TENSOR_ELEMENTS} elements", t.dims))
        }
    };
    if !t.raw_data.is_empty() {
        let size = element_size(t.data_type).ok_or_else(|| format!("element type {} in raw data", t.data_type))?;
        if t.raw_data.len() as u64 != count * size {
            return Err(format!(
                "{} bytes of raw data for dims {:?} ({count} elements of {size} bytes)",
                t.raw_data.len(),
                t.dims
            ));
        }
    }
    Ok(())
}

/// Kernel sizes, strides and dilations at least 1, groups at least 1, pads in `0..=MAX_PAD`, and a
/// Transpose's `perm` a permutation (tract loops, allocating, on anything else).
fn attribute_ranges(n: &NodeProto) -> Result<()> {
    for a in &n.attribute {
        let values = if a.ints.is_empty() { vec![a.i] } else { a.ints.clone() };
        let (bad, range) = match a.name.as_str() {
            "strides" | "dilations" | "kernel_shape" => {
                (values.iter().find(|&&v| !(1..=MAX_WINDOW).contains(&v)), format!("1..={MAX_WINDOW}"))
            }
            "group" => (values.iter().find(|&&v| v < 1), "at least 1".into()),
            "pads" => (values.iter().find(|&&v| !(0..=MAX_PAD).contains(&v)), format!("0..={MAX_PAD}")),
            _ => (None, String::new()),
        };
        if let Some(v) = bad {
            return Err(invalid(n, format!("attribute '{}' has the value {v} (must be {range})", a.name)));
        }
    }
    if n.op_type == "Transpose" {
        if let Some(perm) = Attrs::of(n).ints("perm") {
            let mut seen = vec![false; perm.len()];
            for &p in &perm {
                let slot = usize::try_from(p).ok().and_then(|i| seen.get_mut(i));
                match slot {
                    Some(s) if !*s => *s = true,
                    _ => return Err(invalid(n, format!("perm {perm:?} is not a permutation of 0..{}", perm.len()))),
                }
            }
        }
    }
    Ok(())
}

/// The window attributes agree on the number of spatial axes (the kernel's, or the weights' rank
/// minus two): one stride and dilation per axis, two pads.
fn window_lengths(n: &NodeProto, consts: &mut Constants) -> Result<()> {
    let attrs = Attrs::of(n);
    let from_weights = match n.input.get(1) {
        Some(w) if n.op_type.starts_with("Conv") => consts.dims(w).map(|d| d.len().saturating_sub(2)),
        _ => None,
    };
    let Some(k) = attrs.ints("kernel_shape").map(|v| v.len()).or(from_weights) else { return Ok(()) };
    for (name, per_axis) in [("kernel_shape", 1), ("strides", 1), ("dilations", 1), ("pads", 2)] {
        if let Some(v) = attrs.ints(name) {
            if v.len() != k * per_axis {
                return Err(invalid(
                    n,
                    format!(
                        "attribute '{name}' has {} values for {k} spatial axes (expected {})",
                        v.len(),
                        k * per_axis
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A training-mode BatchNormalization that is not a weight standardisation `prefold` folds: tract
/// 0.23 cannot run one (it has one output where the node has three), and on the data path it
/// would normalise with the statistics of the one input. Refused, saying why.
fn training_batch_norm(n: &NodeProto, consts: &mut Constants, trace: &Trace) -> Result<()> {
    let on_data = n.input.first().is_some_and(|x| trace.is_data(x));
    if on_data {
        return Err(invalid(
            n,
            "a BatchNormalization in training mode on the data path (it would normalise with the \
             statistics of the one input): export the model in eval mode"
                .into(),
        ));
    }
    let why = match n.output.first().map(|o| consts.get(o)) {
        Some(Err(e)) => return Err(e),
        Some(Ok(Some(_))) => "its running statistics (outputs 2 and 3) are read".to_string(),
        _ => "its data, scale and bias are not all constants".to_string(),
    };
    Err(invalid(n, format!("a training-mode BatchNormalization of a constant (weight standardisation) that cannot be folded into the weight: {why}")))
}

/// Constant inputs tract trusts: a Slice step of 0, negative Tile repeats, a ConstantOfShape or
/// Range that is negative, empty-stepped or over the element budget.
fn constant_inputs(n: &NodeProto, consts: &mut Constants, opset: i64) -> Result<()> {
    let mut ints = |ix: usize| -> Result<Option<Vec<i64>>> {
        match n.input.get(ix).filter(|s| !s.is_empty()) {
            Some(name) => Ok(consts.get(name)?.and_then(|c| c.ints.clone())),
            None => Ok(None),
        }
    };
    match n.op_type.as_str() {
        "Pad" => {
            if let Some(pads) = ints(1)? {
                if let Some(p) = pads.iter().find(|&&p| !(0..=MAX_PAD).contains(&p)) {
                    return Err(invalid(n, format!("a pad of {p} (pads must be in 0..={MAX_PAD})")));
                }
            }
        }
        "Clip" => {
            // min and max are scalars; tract's shape inference took a vector's length as a rank,
            // and a BatchNorm after it read out of bounds (tract-core's DataFormat::c).
            for ix in [1, 2] {
                if let Some(name) = n.input.get(ix).filter(|s| !s.is_empty()) {
                    if let Some(c) = consts.get(name)? {
                        if c.values.len() > 1 {
                            return Err(invalid(
                                n,
                                format!("its bound '{name}' has {} values (it must be a scalar)", c.values.len()),
                            ));
                        }
                    }
                }
            }
        }
        "Slice" => {
            if let Some(steps) = ints(4)? {
                if steps.contains(&0) {
                    return Err(invalid(n, format!("a step of 0 (steps {steps:?})")));
                }
            }
        }
        "Tile" => {
            if let Some(r) = ints(1)? {
                if r.iter().any(|&v| v < 0) {
                    return Err(invalid(n, format!("negative repeats {r:?}")));
                }
            }
        }
        "ConstantOfShape" => {
            if let Some(shape) = ints(0)? {
                let count =
                    shape.iter().try_fold(1u64, |acc, &d| u64::try_from(d).ok().and_then(|d| acc.checked_mul(d)));
                if count.is_none_or(|c| c > MAX_TENSOR_ELEMENTS) {
                    return Err(invalid(n, format!("the shape {shape:?} is negative or over the budget")));
                }
            }
        }
        "Resize" => {
            // tract's shape rules turn a scale into a length with `as usize` and then into a
            // dimension: an infinite, huge or negative one panicked on a negative dimension.
            if let Some(sizes) = ints(3)?.filter(|_| opset > 10) {
                if let Some(v) = sizes.iter().find(|&&v| !(0..=MAX_TENSOR_ELEMENTS as i64).contains(&v)) {
                    return Err(invalid(n, format!("a size of {v} (sizes must be in 0..={MAX_TENSOR_ELEMENTS})")));
                }
            }
            let scales_ix = if opset <= 10 { 1 } else { 2 };
            if let Some(name) = n.input.get(scales_ix).filter(|s| !s.is_empty()) {
                if let Some(c) = consts.get(name)? {
                    if let Some(v) = c.values.iter().find(|&&v| !(v > 0.0 && v <= MAX_RESIZE_SCALE)) {
                        return Err(invalid(n, format!("a scale of {v} (scales must be in (0, {MAX_RESIZE_SCALE}])")));
                    }
                }
            }
        }
        "Range" => {
            if let (Some(start), Some(limit), Some(delta)) = (ints(0)?, ints(1)?, ints(2)?) {
                let (s, l, d) = (start.first().copied(), limit.first().copied(), delta.first().copied());
                if let (Some(s), Some(l), Some(d)) = (s, l, d) {
                    let count = if d == 0 { None } else { Some(((l as i128 - s as i128) / d as i128).max(0)) };
                    if count.is_none_or(|c| c > MAX_TENSOR_ELEMENTS as i128) {
                        return Err(invalid(n, format!("range({s}, {l}, {d}) is empty-stepped or over the budget")));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Every LayerNormalization's `axis` indexes its input's axes (`-rank..rank`). tract 0.23's shape
/// rules make the axis the bound of a loop over the input's axes before checking it against the
/// rank: the fuzzer's axis of 2³¹ took 2.4 s to be refused natively, and 2⁶² or a negative axis
/// past the rank (which wraps to nearly 2⁶⁴) would never stop. The ranks come from tract's analysis
/// of `proto` (the part the model loads) with each LayerNormalization read as the identity, whose
/// output has the same shape: one more analysis, for models that have one.
pub fn layer_norm_axes(proto: &tract_onnx::pb::ModelProto, input_shape: &[usize]) -> Result<()> {
    let Some(graph) = proto.graph.as_ref() else { return Ok(()) };
    let axes: Vec<(&NodeProto, i64)> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "LayerNormalization")
        .map(|n| (n, Attrs::of(n).int("axis").unwrap_or(-1)))
        .collect();
    if axes.is_empty() {
        return Ok(());
    }
    let mut identities = proto.clone();
    for n in identities.graph.iter_mut().flat_map(|g| g.node.iter_mut()).filter(|n| n.op_type == "LayerNormalization") {
        n.op_type = "Identity".into();
        n.input.truncate(1);
        n.output.truncate(1);
        n.attribute.clear();
    }
    let inputs: Vec<String> = axes.iter().filter_map(|(n, _)| n.input.first().cloned()).collect();
    let shapes = crate::forward::TypedWithValues::new(&identities, input_shape, &inputs)?.shapes()?;
    let model_input = graph.input.first().map(|i| i.name.as_str());
    for (n, axis) in axes {
        let x = n.input.first().map_or("", String::as_str);
        let rank = if Some(x) == model_input {
            input_shape.len()
        } else if let Some(shape) = shapes.get(x) {
            shape.len()
        } else if let Some(t) = graph.initializer.iter().find(|t| t.name == x) {
            t.dims.len()
        } else {
            return Err(invalid(n, format!("the rank of its input '{x}' is unknown")));
        } as i64;
        if !(-rank..rank).contains(&axis) {
            return Err(invalid(n, format!("its axis {axis} is out of range for an input of rank {rank}")));
        }
    }
    Ok(())
}

/// A windowed or channelled operator whose data input is a constant (XCiT's and EdgeNeXt's Fourier
/// position encodings project a constant grid with a 1×1 Conv; tract folds it). tract's shape rules
/// index that input's channel axis unchecked (`DataFormat::c`, `get_unchecked`), and a constant of
/// rank 1 there (a bias vector, found by fuzzing) is an out-of-bounds read. So each such constant's
/// rank comes first from tract's analysis of the part of `proto` (the part the model loads) that
/// computes those constants alone; that part may hold no such operator itself. A rank below the
/// operator's (a Conv's: its weights' rank) is refused by name. Models without one pay nothing.
pub fn constant_data_inputs(proto: &tract_onnx::pb::ModelProto, input_shape: &[usize], trace: &Trace) -> Result<()> {
    let Some(graph) = proto.graph.as_ref() else { return Ok(()) };
    let reads_a_constant = |n: &NodeProto| {
        (WINDOWED.contains(&n.op_type.as_str()) || CHANNELLED.contains(&n.op_type.as_str()))
            && n.input.first().is_some_and(|x| !x.is_empty() && !trace.is_data(x))
    };
    let nodes: Vec<&NodeProto> = graph.node.iter().filter(|n| reads_a_constant(n)).collect();
    if nodes.is_empty() {
        return Ok(());
    }
    let constants: Vec<&str> = nodes.iter().map(|n| n.input[0].as_str()).collect();
    let alone = super::part::part(proto, None, &constants)?;
    if let Some(n) = alone.graph.iter().flat_map(|g| g.node.iter()).find(|n| reads_a_constant(n)) {
        return Err(invalid(
            n,
            "it computes, from a constant, the constant data input of another windowed or channelled operator (only one such step is supported)".into(),
        ));
    }
    let names: Vec<String> = constants.iter().map(|c| c.to_string()).collect();
    let shapes = crate::forward::TypedWithValues::new(&alone, input_shape, &names)?.shapes()?;
    for n in nodes {
        let x = n.input[0].as_str();
        let rank = match shapes.get(x) {
            Some(shape) => shape.len(),
            None => match graph.initializer.iter().find(|t| t.name == x) {
                Some(t) => t.dims.len(),
                None => return Err(invalid(n, format!("the rank of its constant data input '{x}' is unknown"))),
            },
        };
        let weights_rank = n
            .input
            .get(1)
            .filter(|_| n.op_type.contains("Conv"))
            .and_then(|w| graph.initializer.iter().find(|t| t.name == *w))
            .map(|t| t.dims.len());
        let wanted = weights_rank.unwrap_or_else(|| least_rank(&n.op_type));
        if rank < least_rank(&n.op_type) || weights_rank.is_some_and(|w| w != rank) {
            return Err(invalid(
                n,
                format!("its data input '{x}' is a constant of rank {rank}, where it needs rank {wanted} (N, C, spatial axes)"),
            ));
        }
    }
    Ok(())
}
