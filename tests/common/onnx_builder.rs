//! A tiny ONNX writer for tests: real `ModelProto` bytes built from tract's own protobuf structs
//! (`tract_onnx::pb`) and encoded with prost, so that constructed networks go through exactly the same
//! loading path as the shared models (decode → trace → tract → build → canonise).
//!
//! ```ignore
//! let mut b = OnnxBuilder::new("x", &[1, 2]);
//! b.init("W", &[2, 3], &[1., 2., 3., 4., 5., 6.]);
//! b.init("b", &[3], &[0., 0., 0.]);
//! b.node("Gemm", &["x", "W", "b"], "y", vec![]);
//! b.output("y", &[1, 3]);
//! let bytes = b.build();
//! ```
//!
//! Also: helpers to edit the initializers of an existing model (bias removal, bias shifts) and a small
//! deterministic random generator for weights and inputs.
#[allow(unused_imports)]
pub use super::rng::Rng;
use prost::Message;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_shape_proto::dimension::Value as DimValue, tensor_shape_proto::Dimension,
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};

/// ONNX element type codes.
pub const FLOAT: i32 = 1;
pub const INT64: i32 = 7;

/// Node attributes.
pub mod attr {
    use super::*;

    fn named(name: &str, ty: AttributeType) -> AttributeProto {
        AttributeProto { name: name.to_string(), r#type: ty as i32, ..Default::default() }
    }
    pub fn int(name: &str, v: i64) -> AttributeProto {
        AttributeProto { i: v, ..named(name, AttributeType::Int) }
    }
    pub fn ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto { ints: v.to_vec(), ..named(name, AttributeType::Ints) }
    }
    pub fn float(name: &str, v: f32) -> AttributeProto {
        AttributeProto { f: v, ..named(name, AttributeType::Float) }
    }
    pub fn floats(name: &str, v: &[f32]) -> AttributeProto {
        AttributeProto { floats: v.to_vec(), ..named(name, AttributeType::Floats) }
    }
    pub fn string(name: &str, v: &str) -> AttributeProto {
        AttributeProto { s: v.as_bytes().to_vec(), ..named(name, AttributeType::String) }
    }
}

fn value_info(name: &str, elem_type: i32, shape: &[i64]) -> ValueInfoProto {
    let dim = shape.iter().map(|&d| Dimension { value: Some(DimValue::DimValue(d)), ..Default::default() }).collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Builds one ONNX graph (opset 13, IR version 7) node by node.
pub struct OnnxBuilder {
    graph: GraphProto,
    opset: i64,
    ir_version: i64,
    count: usize,
}

impl OnnxBuilder {
    /// A graph with one float input `name` of shape `shape`.
    pub fn new(name: &str, shape: &[i64]) -> Self {
        Self::new_typed(name, FLOAT, shape)
    }

    /// A graph with one input of any ONNX element type.
    pub fn new_typed(name: &str, elem_type: i32, shape: &[i64]) -> Self {
        let graph = GraphProto {
            name: "rlrp-test".into(),
            input: vec![value_info(name, elem_type, shape)],
            ..Default::default()
        };
        OnnxBuilder { graph, opset: 13, ir_version: 7, count: 0 }
    }

    /// Another graph input of any element type (for the "two inputs" case).
    pub fn input(&mut self, name: &str, elem_type: i32, shape: &[i64]) -> &mut Self {
        self.graph.input.push(value_info(name, elem_type, shape));
        self
    }

    /// A float32 initializer; returns its name.
    pub fn init(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        assert_eq!(dims.iter().product::<i64>() as usize, data.len(), "initializer '{name}': size");
        self.graph.initializer.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            float_data: data.to_vec(),
            ..Default::default()
        });
        name.to_string()
    }

    /// A float32 initializer stored as little-endian `raw_data` (the form exporters write).
    pub fn init_raw(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        assert_eq!(dims.iter().product::<i64>() as usize, data.len(), "initializer '{name}': size");
        self.graph.initializer.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.to_string()
    }

    /// An int64 initializer (shapes, axes, pads); returns its name.
    pub fn init_i64(&mut self, name: &str, dims: &[i64], data: &[i64]) -> String {
        assert_eq!(dims.iter().product::<i64>() as usize, data.len(), "initializer '{name}': size");
        self.graph.initializer.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: INT64,
            int64_data: data.to_vec(),
            ..Default::default()
        });
        name.to_string()
    }

    /// Adds a node with one output and a generated name (`<op>_<k>`); returns the node name.
    pub fn node(&mut self, op: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) -> String {
        let name = format!("{op}_{}", self.count);
        self.named_node(&name, op, inputs, &[output], attrs);
        name
    }

    /// Adds a node with an explicit name and any number of outputs.
    pub fn named_node(&mut self, name: &str, op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<AttributeProto>) {
        self.count += 1;
        self.graph.node.push(NodeProto {
            name: name.into(),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute: attrs,
            ..Default::default()
        });
    }

    /// Adds a node in a non-default domain (e.g. "com.microsoft") and imports that domain.
    pub fn domain_node(&mut self, domain: &str, name: &str, op: &str, inputs: &[&str], output: &str) {
        self.named_node(name, op, inputs, &[output], vec![]);
        self.graph.node.last_mut().expect("just pushed").domain = domain.into();
    }

    /// Makes dimension `axis` of graph input `input` free (a named `dim_param`, e.g. a batch "N").
    pub fn free_dim(&mut self, input: &str, axis: usize, param: &str) -> &mut Self {
        let vi = self.graph.input.iter_mut().find(|i| i.name == input).expect("declared input");
        if let Some(type_proto::Value::TensorType(t)) = vi.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            let dim = &mut t.shape.as_mut().expect("shape").dim[axis];
            dim.value = Some(DimValue::DimParam(param.into()));
        }
        self
    }

    /// Lists an existing initializer among the graph inputs too (as IR < 4 exporters did).
    pub fn initializer_as_input(&mut self, name: &str) -> &mut Self {
        let t = self.graph.initializer.iter().find(|t| t.name == name).expect("initializer");
        let vi = value_info(name, t.data_type, &t.dims.clone());
        self.graph.input.push(vi);
        self
    }

    /// Declares a float graph output.
    pub fn output(&mut self, name: &str, shape: &[i64]) -> &mut Self {
        self.graph.output.push(value_info(name, FLOAT, shape));
        self
    }

    pub fn opset(&mut self, version: i64) -> &mut Self {
        self.opset = version;
        self
    }

    /// The ModelProto.
    pub fn proto(&self) -> ModelProto {
        let mut opset_import = vec![OperatorSetIdProto { domain: String::new(), version: self.opset }];
        for n in &self.graph.node {
            if !n.domain.is_empty() && !opset_import.iter().any(|o| o.domain == n.domain) {
                opset_import.push(OperatorSetIdProto { domain: n.domain.clone(), version: 1 });
            }
        }
        ModelProto {
            ir_version: self.ir_version,
            opset_import,
            producer_name: "rlrp-tests".into(),
            producer_version: "0".into(),
            graph: Some(self.graph.clone()),
            ..Default::default()
        }
    }

    /// The encoded ONNX file.
    pub fn build(&self) -> Vec<u8> {
        self.proto().encode_to_vec()
    }
}

// ---------------------------------------------------------------------------------------------
// Editing existing models.

/// Decodes ONNX bytes (panics: for test fixtures that are known to be valid).
pub fn decode(bytes: &[u8]) -> ModelProto {
    ModelProto::decode(bytes).expect("a valid ONNX file")
}

/// The float values of an initializer (float_data or raw_data).
pub fn tensor_f32(t: &TensorProto) -> Vec<f32> {
    assert_eq!(t.data_type, FLOAT, "initializer '{}' is not float32", t.name);
    if !t.raw_data.is_empty() {
        t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    } else {
        t.float_data.clone()
    }
}

fn set_tensor_f32(t: &mut TensorProto, v: &[f32]) {
    if !t.raw_data.is_empty() {
        t.raw_data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    } else {
        t.float_data = v.to_vec();
    }
}

/// Applies `f` to the values of the float initializer `name`. Panics if there is none.
pub fn edit_initializer(proto: &mut ModelProto, name: &str, f: impl FnOnce(&mut Vec<f32>)) {
    let graph = proto.graph.as_mut().expect("graph");
    let t = graph.initializer.iter_mut().find(|t| t.name == name).unwrap_or_else(|| panic!("no initializer '{name}'"));
    let mut v = tensor_f32(t);
    f(&mut v);
    set_tensor_f32(t, &v);
}

/// The node that produces the graph's (first) output.
pub fn output_node(proto: &ModelProto) -> &NodeProto {
    let g = proto.graph.as_ref().expect("graph");
    let out = &g.output[0].name;
    g.node.iter().find(|n| n.output.first() == Some(out)).expect("a node produces the output")
}

/// Sets every Conv/Gemm bias initializer to zero (the "bias-free copy" of property 3).
pub fn zero_biases(proto: &mut ModelProto) -> usize {
    let names: Vec<String> = proto
        .graph
        .as_ref()
        .expect("graph")
        .node
        .iter()
        .filter(|n| matches!(n.op_type.as_str(), "Conv" | "Gemm"))
        .filter_map(|n| n.input.get(2).cloned())
        .filter(|s| !s.is_empty())
        .collect();
    for name in &names {
        edit_initializer(proto, name, |v| v.iter_mut().for_each(|x| *x = 0.0));
    }
    names.len()
}

// ---------------------------------------------------------------------------------------------
// Deterministic pseudo-random numbers (xorshift64*), for weights and inputs.
