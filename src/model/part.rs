//! The part of an ONNX graph that computes some of its tensors from one tensor: what tract is
//! given. At load, the part that computes the classifier's output from its input: nodes that nothing
//! the output needs reads are not tract's to analyse (fuzzing found a dead Transpose whose shape
//! rule drove tract's BatchNorm rule to index a shape out of bounds). For pixel flipping's cropped
//! passes, each section between two tensors and the rest of the model. Not part of the method:
//! RLRP.md says nothing of it.
use crate::error::{Error, Result};
use tract_onnx::pb::ModelProto;

/// The part of `proto` that computes `outputs` from tensor `from` (None: the model's input; else a
/// graph input or a computed tensor), which becomes its first input: nodes that `outputs` do not
/// need are dropped (so that no shape written for the whole model's input meets a crop), and so
/// are the constants and the other inputs they alone read (a section of the first layers is built
/// without copying the whole model's weights).
pub fn part(proto: &ModelProto, from: Option<&str>, outputs: &[&str]) -> Result<ModelProto> {
    use std::collections::HashSet;
    let g = proto.graph.as_ref().ok_or_else(|| Error::Engine("the model has no graph".into()))?;
    let initialised: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let model_input = g
        .input
        .iter()
        .find(|i| !initialised.contains(i.name.as_str()))
        .map(|i| i.name.as_str())
        .ok_or_else(|| Error::Engine("the model has no input".into()))?;
    let from = from.unwrap_or(model_input);
    let mut wanted: HashSet<&str> = outputs.iter().copied().collect();
    let mut keep = vec![false; g.node.len()];
    for (i, node) in g.node.iter().enumerate().rev() {
        if node.output.iter().any(|o| wanted.contains(o.as_str())) {
            keep[i] = true;
            wanted.extend(node.input.iter().map(String::as_str).filter(|x| *x != from && !x.is_empty()));
        }
    }
    // A graph input keeps its declared type; a computed tensor takes the model input's (the caller
    // sets its shape).
    let declared = g.input.iter().find(|i| i.name == from && !initialised.contains(i.name.as_str()));
    let first_input = match declared {
        Some(i) => i.clone(),
        None if g.node.iter().any(|n| n.output.iter().any(|o| o == from)) => {
            let mut i = g.input.iter().find(|i| i.name == model_input).cloned().expect("the input found above");
            i.name = from.to_string();
            i
        }
        None => return Err(Error::Engine(format!("the model has no computed tensor '{from}'"))),
    };
    let read = |name: &str| wanted.contains(name);
    let graph = tract_onnx::pb::GraphProto {
        node: g.node.iter().zip(&keep).filter(|(_, k)| **k).map(|(n, _)| n.clone()).collect(),
        name: g.name.clone(),
        initializer: g.initializer.iter().filter(|t| read(&t.name)).cloned().collect(),
        sparse_initializer: g
            .sparse_initializer
            .iter()
            .filter(|t| t.values.as_ref().is_some_and(|v| read(&v.name)))
            .cloned()
            .collect(),
        doc_string: String::new(),
        input: std::iter::once(first_input)
            .chain(g.input.iter().filter(|i| i.name != from && read(&i.name)).cloned())
            .collect(),
        output: outputs
            .iter()
            .map(|o| tract_onnx::pb::ValueInfoProto { name: o.to_string(), ..Default::default() })
            .collect(),
        value_info: g.value_info.iter().filter(|v| read(&v.name)).cloned().collect(),
        quantization_annotation: g.quantization_annotation.clone(),
    };
    Ok(ModelProto {
        ir_version: proto.ir_version,
        opset_import: proto.opset_import.clone(),
        producer_name: proto.producer_name.clone(),
        producer_version: proto.producer_version.clone(),
        domain: proto.domain.clone(),
        model_version: proto.model_version,
        doc_string: String::new(),
        graph: Some(graph),
        metadata_props: Vec::new(),
        training_info: Vec::new(),
        functions: proto.functions.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::part;
    use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto};

    /// `x → Mul(·, a) → Mul(·, b) → y`, with `a` and `b` constants.
    fn chain() -> ModelProto {
        let mul = |i: &str, c: &str, o: &str| NodeProto {
            input: vec![i.into(), c.into()],
            output: vec![o.into()],
            op_type: "Mul".into(),
            ..Default::default()
        };
        let constant = |name: &str| TensorProto {
            name: name.into(),
            dims: vec![1],
            data_type: 1,
            float_data: vec![2.0],
            ..Default::default()
        };
        let value = |name: &str| ValueInfoProto { name: name.into(), ..Default::default() };
        ModelProto {
            graph: Some(GraphProto {
                node: vec![mul("x", "a", "h"), mul("h", "b", "y")],
                initializer: vec![constant("a"), constant("b")],
                input: vec![value("x"), value("a"), value("b")],
                output: vec![value("y")],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A part of the model keeps only the nodes and the constants it reads, and takes `from` as its
    /// input.
    #[test]
    fn a_part_keeps_only_what_it_reads() {
        let names = |p: &ModelProto| {
            let g = p.graph.as_ref().unwrap();
            let init: Vec<String> = g.initializer.iter().map(|t| t.name.clone()).collect();
            let inputs: Vec<String> = g.input.iter().map(|t| t.name.clone()).collect();
            (g.node.len(), init, inputs)
        };
        let first = part(&chain(), None, &["h"]).unwrap();
        assert_eq!(names(&first), (1, vec!["a".into()], vec!["x".into(), "a".into()]));
        let second = part(&chain(), Some("h"), &["y"]).unwrap();
        assert_eq!(names(&second), (1, vec!["b".into()], vec!["h".into(), "b".into()]));
        assert!(part(&chain(), Some("nowhere"), &["y"]).is_err(), "a tensor the model does not compute");
    }

    /// At load the part is taken from the model's input by name: a node that the output does not
    /// need is left out with what it alone reads, and a graph input keeps its declared type.
    #[test]
    fn a_dead_node_is_left_out() {
        let mut model = chain();
        let g = model.graph.as_mut().unwrap();
        g.node.push(NodeProto {
            input: vec!["h".into()],
            output: vec!["dead".into()],
            op_type: "Transpose".into(),
            ..Default::default()
        });
        g.input[0].doc_string = "declared".into();
        let p = part(&model, Some("x"), &["y"]).unwrap();
        let g = p.graph.as_ref().unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Mul", "Mul"]);
        assert_eq!((g.input[0].name.as_str(), g.input[0].doc_string.as_str()), ("x", "declared"));
    }
}
