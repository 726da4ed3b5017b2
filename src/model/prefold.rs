//! What tract is given: the model with its constant `DequantizeLinear` nodes (int8 weights and
//! their scales) and its training-mode `BatchNormalization`s of constants (the weight
//! standardisation of NFNets and BiT ResNets) replaced by the f32 initialisers [`Constants`] folds
//! them into. RLRP.md has no section here ("Quantised models": weights are dequantised to f32
//! first, which is what tract's forward pass then computes with, as before). tract 0.23 cannot run
//! a training-mode BatchNormalization at all (it has one output, the node three).
//!
//! Why: tract folds those nodes itself while it analyses the model, through its generic broadcasting
//! subtraction and multiplication. Measured natively (`perf`, Lite0 int8 weight-only, `rlrp explain`):
//! that was 35 % of the whole command's time, most of the model load. Our folding works by
//! channel blocks and its values are the ones the relevance pass already uses.
use super::constants::{is_training_batch_norm, Constants};
use crate::error::Result;
use std::collections::HashSet;
use tract_onnx::pb::{tensor_proto::DataType, GraphProto, NodeProto, TensorProto};

/// Replaces every `DequantizeLinear` whose inputs are all initialisers, and every training-mode
/// `BatchNormalization` of a constant whose running statistics nothing reads ([`folds`]), by an f32
/// initialiser of its value (the node's first output name), then drops the initialisers nothing
/// reads any more. A node our folding cannot evaluate is left to tract. `consts` folds the values
/// (and keeps them for the import); it may read another copy of the same graph. Returns how many
/// nodes were folded.
pub fn fold_constant_weights(graph: &mut GraphProto, consts: &mut Constants) -> Result<usize> {
    let mut folded: Vec<TensorProto> = Vec::new();
    let mut removed: HashSet<usize> = HashSet::new();
    let read_before = read_names(graph);
    for (i, node) in graph.node.iter().enumerate() {
        if !folds(node, consts, &read_before) {
            continue;
        }
        let Ok(Some(value)) = consts.get(&node.output[0]) else { continue };
        let Some(data) = value.values.as_slice() else { continue };
        folded.push(TensorProto {
            name: node.output[0].clone(),
            data_type: DataType::Float as i32,
            dims: value.values.shape().iter().map(|&d| d as i64).collect(),
            raw_data: le_bytes(data),
            ..TensorProto::default()
        });
        removed.insert(i);
    }
    if removed.is_empty() {
        return Ok(0);
    }
    let mut index = 0;
    graph.node.retain(|_| {
        index += 1;
        !removed.contains(&(index - 1))
    });
    let read = read_names(graph);
    let dropped: HashSet<String> =
        graph.initializer.iter().filter(|t| !read.contains(t.name.as_str())).map(|t| t.name.clone()).collect();
    graph.initializer.retain(|t| !dropped.contains(&t.name));
    // Before IR version 4 initialisers are also listed as graph inputs.
    graph.input.retain(|i| !dropped.contains(&i.name));
    graph.initializer.extend(folded);
    Ok(removed.len())
}

/// Whether [`fold_constant_weights`] replaces `node`: a standard-domain `DequantizeLinear` of
/// initialisers, or a training-mode `BatchNormalization` whose data input is a constant (our
/// folding evaluates it from its data, scale and bias) and whose other outputs nothing reads.
pub fn folds(node: &NodeProto, consts: &mut Constants, read: &HashSet<String>) -> bool {
    let standard = node.domain.is_empty() || node.domain == "ai.onnx";
    match node.op_type.as_str() {
        _ if !standard || node.output.is_empty() => false,
        "DequantizeLinear" => {
            node.output.len() == 1 && node.input.iter().all(|name| name.is_empty() || consts.is_initializer(name))
        }
        "BatchNormalization" => {
            is_training_batch_norm(node)
                && node.output[1..].iter().all(|o| o.is_empty() || !read.contains(o))
                && matches!(consts.get(&node.output[0]), Ok(Some(_)))
        }
        _ => false,
    }
}

/// Every value a node or the graph's output reads.
pub fn read_names(graph: &GraphProto) -> HashSet<String> {
    graph.node.iter().flat_map(|n| n.input.iter()).chain(graph.output.iter().map(|o| &o.name)).cloned().collect()
}

/// The little-endian bytes of `values` (ONNX's `raw_data`).
fn le_bytes(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::proto::decode_tensor;
    use tract_onnx::pb::{AttributeProto, NodeProto, ValueInfoProto};

    fn tensor(name: &str, data_type: DataType, dims: &[i64], raw_data: Vec<u8>) -> TensorProto {
        TensorProto {
            name: name.into(),
            data_type: data_type as i32,
            dims: dims.to_vec(),
            raw_data,
            ..Default::default()
        }
    }

    fn node(op_type: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            op_type: op_type.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    /// A per-channel DequantizeLinear of int8 weights is folded; one of a graph input is not; an
    /// initialiser another node still reads stays, the others go (from the inputs list too).
    #[test]
    fn constant_dequantize_becomes_an_f32_initialiser() {
        let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let mut dq_w = node("DequantizeLinear", &["w_q", "w_scale", "w_zero"], "w");
        dq_w.attribute.push(AttributeProto { name: "axis".into(), i: 0, r#type: 2, ..Default::default() });
        let mut graph = GraphProto {
            node: vec![dq_w, node("DequantizeLinear", &["x_q", "w_scale"], "x"), node("Mul", &["x", "w"], "y")],
            initializer: vec![
                tensor("w_q", DataType::Int8, &[2, 3], [-3i8, 0, 5, 127, -128, 1].iter().map(|&v| v as u8).collect()),
                tensor("w_scale", DataType::Float, &[2], f32s(&[0.5, 0.25])),
                tensor("w_zero", DataType::Int8, &[2], vec![1, 255]), // 1 and -1
            ],
            input: vec![
                ValueInfoProto { name: "x_q".into(), ..Default::default() },
                ValueInfoProto { name: "w_q".into(), ..Default::default() },
            ],
            ..Default::default()
        };
        let original = graph.clone();
        let mut consts = Constants::new(&original);
        assert_eq!(fold_constant_weights(&mut graph, &mut consts).unwrap(), 1);
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["DequantizeLinear", "Mul"]);
        let names: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["w_scale", "w"]);
        assert_eq!(graph.input.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["x_q"]);
        let w = decode_tensor(&graph.initializer[1]).unwrap();
        assert_eq!(w.values.shape(), [2, 3]);
        let expected = [(-3.0 - 1.0) * 0.5, -0.5, 2.0, (127.0 + 1.0) * 0.25, (-128.0 + 1.0) * 0.25, 0.5];
        assert_eq!(w.values.iter().copied().collect::<Vec<f32>>(), expected);
    }
}
