//! Models: ONNX bytes → an explainable [`Graph`] plus a forward-pass [`Engine`].
pub mod canonise;
pub mod constants;
pub mod external;
pub mod fuse;
pub mod graph;
pub mod import;
pub mod part;
pub mod precheck;
pub mod prefold;
pub mod proto;
pub mod registry;
pub mod resize;
pub mod scalar;

use crate::budget;
use crate::error::{Error, Result};
use crate::forward::incremental::{spec::IncrementalSpec, IncrementalLogits};
use crate::forward::{Activations, Engine, Keep, LogitPlan, TypedWithValues};
use crate::method::Method;
use crate::tensor::Tensor;
use graph::{Graph, Op};
use std::collections::BTreeMap;

pub use crate::report::ModelInfo;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::Framework;

/// Options for loading a model.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The input shape (batch included), for models whose input has free dimensions. A free batch
    /// dimension alone is set to 1 without this.
    pub input_shape: Option<Vec<usize>>,
    /// What the forward pass keeps: for every method (the default), or for R-LRP alone (a faster
    /// pass; [`Model::keep_everything`] widens it when another method is asked for).
    pub keep: Keep,
}

/// A loaded, canonised model ready to explain.
pub struct Model {
    pub graph: Graph,
    pub info: ModelInfo,
    engine: Engine,
}

/// Decodes ONNX protobuf bytes (never panics on garbage).
pub fn decode_proto(bytes: &[u8]) -> Result<ModelProto> {
    if bytes.is_empty() {
        return Err(Error::OnnxDecode("the file is empty".into()));
    }
    let proto = std::panic::catch_unwind(|| tract_onnx::onnx().proto_model_for_read(&mut &bytes[..]))
        .map_err(|_| Error::OnnxDecode("the protobuf decoder failed".into()))?
        .map_err(|e| Error::OnnxDecode(format!("{e} (truncated or not an ONNX file?)")))?;
    let nodes = proto.graph.as_ref().map_or(0, |g| g.node.len());
    if nodes == 0 {
        return Err(Error::OnnxDecode("the file holds no ONNX graph (truncated or not an ONNX file?)".into()));
    }
    if nodes > budget::MAX_NODES {
        return Err(budget::budget_error(format!(
            "the graph has {nodes} operators; the limit is {}",
            budget::MAX_NODES
        )));
    }
    Ok(proto)
}

/// The input shape declared by the model, with a free batch dimension set to 1.
/// With `given`, free dimensions take the given sizes and fixed ones must agree with it.
fn declared_input_shape(proto: &ModelProto, name: &str, given: Option<&[usize]>) -> Result<Vec<usize>> {
    use tract_onnx::pb::{tensor_shape_proto::dimension::Value as Dim, type_proto::Value as Ty};
    let graph = proto.graph.as_ref().ok_or_else(|| Error::InvalidModel("no graph".into()))?;
    let vi =
        graph.input.iter().find(|i| i.name == name).ok_or_else(|| Error::InvalidModel("input not declared".into()))?;
    let Some(Ty::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(Error::InvalidModel(format!("input '{name}' is not a tensor")));
    };
    if t.elem_type != 1 {
        return Err(Error::InvalidModel(format!(
            "input '{name}' has ONNX element type {} (only float32 inputs are supported)",
            t.elem_type
        )));
    }
    let dims = t.shape.as_ref().map(|s| s.dim.clone()).unwrap_or_default();
    if let Some(given) = given {
        let mismatch = given.len() != dims.len()
            || dims
                .iter()
                .zip(given)
                .any(|(d, &g)| matches!(d.value, Some(Dim::DimValue(v)) if v > 0 && v as usize != g));
        if mismatch || given.contains(&0) {
            let declared = dims
                .iter()
                .map(|d| match d.value {
                    Some(Dim::DimValue(v)) if v > 0 => v as usize,
                    _ => 0,
                })
                .collect();
            return Err(Error::InputShape { expected: declared, got: given.to_vec() });
        }
        return Ok(given.to_vec());
    }
    let mut shape = Vec::new();
    for (i, d) in dims.iter().enumerate() {
        match d.value.as_ref() {
            Some(Dim::DimValue(v)) if *v > 0 => shape.push(*v as usize),
            _ if i == 0 => shape.push(1),
            _ => {
                return Err(Error::InvalidModel(format!(
                    "input '{name}' has a free dimension {i}: give the input shape (sidecar or --input-shape)"
                )))
            }
        }
    }
    Ok(shape)
}

/// Drops opset imports of domains that no node uses (quantisers add several; tract need not see them).
fn drop_unused_domains(proto: &mut ModelProto) {
    let used: std::collections::HashSet<String> =
        proto.graph.as_ref().map(|g| g.node.iter().map(|n| n.domain.clone()).collect()).unwrap_or_default();
    proto.opset_import.retain(|o| o.domain.is_empty() || o.domain == "ai.onnx" || used.contains(&o.domain));
}

/// Makes a graph exported for batch 1 take `batch` inputs: exporters record every intermediate
/// shape with its batch of 1 (dropped: tract infers them), and a `Reshape` to a literal shape
/// `[1, …]` (PyTorch's `x.view(1, -1)`) gets `[batch, …]`. A rewrite that mixes images would show
/// in the logits: [`crate::eval::run::choose_logit_plan`] compares them with the explaining pass.
fn for_batch(g: &mut tract_onnx::pb::GraphProto, batch: usize) {
    g.value_info.clear();
    for o in &mut g.output {
        o.r#type = None;
    }
    let mut rewritten: Vec<tract_onnx::pb::TensorProto> = Vec::new();
    for node in g.node.iter_mut().filter(|n| n.op_type == "Reshape" && n.input.len() == 2) {
        let Some(shape) = g.initializer.iter().find(|t| t.name == node.input[1]) else { continue };
        let Ok(proto::Constant { ints: Some(ints), .. }) = proto::decode_tensor(shape) else { continue };
        if ints.len() < 2 || ints[0] != 1 {
            continue;
        }
        let name = format!("{}__batch{batch}", shape.name);
        if !rewritten.iter().any(|t| t.name == name) {
            let mut dims = ints.clone();
            dims[0] = batch as i64;
            rewritten.push(tract_onnx::pb::TensorProto {
                name: name.clone(),
                dims: vec![dims.len() as i64],
                data_type: proto::INT64,
                int64_data: dims,
                ..Default::default()
            });
        }
        node.input[1] = name;
    }
    g.initializer.extend(rewritten);
}

/// A logits-only forward pass ([`LogitPlan`]) of the ONNX `bytes`, whose input has `input_shape`
/// (batch 1) and whose tensor `output` holds `classes` scores, for `batch` inputs at a time: what
/// [`Model::logit_plan`] builds, for a worker that holds the bytes but not the model.
pub fn logit_plan_from_bytes(
    bytes: &[u8],
    input_shape: &[usize],
    output: &str,
    classes: usize,
    batch: usize,
) -> Result<LogitPlan> {
    LogitPlan::new(&proto_for_plans(bytes, output, batch)?, input_shape, output, classes, batch)
}

/// Pixel flipping's logits-only passes of the ONNX `bytes` ([`IncrementalLogits`]), cropping the
/// local prefix as `spec` says ([`IncrementalSpec::of`] the model's graph).
pub fn incremental_logits_from_bytes(
    bytes: &[u8],
    input_shape: &[usize],
    output: &str,
    classes: usize,
    spec: Option<IncrementalSpec>,
) -> Result<IncrementalLogits> {
    IncrementalLogits::new(&proto_for_plans(bytes, output, 1)?, input_shape, output, classes, spec)
}

/// The ONNX bytes decoded for tract's plans: the part that computes `output` ([`part::part`], as at
/// load), unused domains dropped, constant dequantisation folded, and made for `batch` inputs at
/// once.
fn proto_for_plans(bytes: &[u8], output: &str, batch: usize) -> Result<ModelProto> {
    let mut proto = part::part(&decode_proto(bytes)?, None, &[output])?;
    drop_unused_domains(&mut proto);
    if let Some(g) = proto.graph.as_mut() {
        let original = g.clone();
        prefold::fold_constant_weights(g, &mut constants::Constants::new(&original))?;
        if batch > 1 {
            for_batch(g, batch);
        }
    }
    Ok(proto)
}

impl Model {
    /// Loads an ONNX model from bytes (browser and native alike).
    pub fn from_onnx_bytes(bytes: &[u8], options: &LoadOptions) -> Result<Model> {
        let mut proto = decode_proto(bytes)?;
        external::still_external(&proto)?;
        drop_unused_domains(&mut proto);
        let graph_proto = proto.graph.clone().ok_or_else(|| Error::InvalidModel("no graph".into()))?;
        let mut consts = constants::Constants::new(&graph_proto);
        let trace = import::trace(&graph_proto, &mut consts)?;
        let opset = proto
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .unwrap_or(0);
        precheck::check(&graph_proto, &mut consts, &trace, opset)?;
        let input_shape = declared_input_shape(&proto, &trace.input, options.input_shape.as_deref())?;
        budget::tensor_elements(&format!("the input '{}'", trace.input), &input_shape).map_err(budget::budget_error)?;
        // tract sees only what computes the output (and analyses no dead node).
        let mut proto = part::part(&proto, Some(&trace.input), &[&trace.output])?;
        if let Some(g) = proto.graph.as_mut() {
            prefold::fold_constant_weights(g, &mut consts)?;
        }
        precheck::layer_norm_axes(&proto, &input_shape)?;
        precheck::constant_data_inputs(&proto, &input_shape, &trace)?;
        let typed = TypedWithValues::new(&proto, &input_shape, &trace.shape_names())?;
        let mut shapes = typed.shapes()?;
        shapes.insert(trace.input.clone(), input_shape.clone());
        budget::check_activations(shapes.iter().map(|(n, s)| (n.as_str(), s.as_slice())))?;
        // Shape arithmetic (Slice bounds from Shape → Gather → Div...) is constant once the input
        // shape is fixed: tract has computed what our folding cannot.
        for name in &trace.statics {
            if consts.get(name)?.is_none() {
                if let Some(c) = typed.constant(name)? {
                    consts.provide(name, c);
                }
            }
        }
        let mut graph = import::build(&trace, &mut consts, &shapes, opset)?;
        let mut operators = BTreeMap::new();
        for n in &trace.nodes {
            if n.output == 0 {
                *operators.entry(n.proto.op_type.clone()).or_insert(0) += 1;
            }
        }
        canonise::canonise(&mut graph)?;
        // Logits: [1, classes], [classes], or [1, classes, 1, 1] (a convolutional head without Flatten).
        let out_shape = &graph.values[graph.output].shape;
        let classes: usize = out_shape.iter().product();
        if out_shape.iter().filter(|&&d| d > 1).count() > 1 || classes == 0 {
            return Err(Error::InvalidModel(format!(
                "the output has shape {out_shape:?}; a classifier outputs one score per class, e.g. [1, classes]"
            )));
        }
        let engine = typed.into_engine(&graph, options.keep)?;
        let info = ModelInfo {
            input_name: trace.input.clone(),
            input_shape,
            output_name: graph.values[graph.output].name.clone(),
            classes,
            opset,
            producer: format!("{} {}", proto.producer_name, proto.producer_version).trim().to_string(),
            operators,
            weighted_layers: graph.weighted_layer_count(),
        };
        Ok(Model { graph, info, engine })
    }

    /// Runs the forward pass, keeping every activation the relevance pass needs (of the methods
    /// [`Model::serves`]).
    pub fn forward(&self, input: &Tensor) -> Result<Activations> {
        self.engine.run(&self.graph, input)
    }

    /// True when this model's forward pass keeps what `method` reads.
    pub fn serves(&self, method: Method) -> bool {
        self.engine.keep().serves(method)
    }

    /// Replaces a forward plan for R-LRP alone by one for every method, planned again from the
    /// ONNX `bytes` this model was loaded from (the model does not keep them).
    pub fn keep_everything(&mut self, bytes: &[u8]) -> Result<()> {
        if self.engine.keep() == Keep::Everything {
            return Ok(());
        }
        let options = LoadOptions { input_shape: Some(self.info.input_shape.clone()), keep: Keep::Everything };
        let wider = Model::from_onnx_bytes(bytes, &options)?;
        if wider.info.output_name != self.info.output_name || wider.graph.values.len() != self.graph.values.len() {
            return Err(Error::Request("these are not the bytes the model was loaded from".into()));
        }
        self.engine = wider.engine;
        Ok(())
    }

    /// A logits-only forward pass of this model for `batch` inputs at a time ([`LogitPlan`]);
    /// `bytes` are the ONNX bytes the model was loaded from (the model does not keep them).
    pub fn logit_plan(&self, bytes: &[u8], batch: usize) -> Result<LogitPlan> {
        logit_plan_from_bytes(bytes, &self.info.input_shape, &self.info.output_name, self.info.classes, batch)
    }

    /// Pixel flipping's logits-only passes of this model ([`IncrementalLogits`]), cropping as `spec`
    /// says; `bytes` are the ONNX bytes the model was loaded from.
    pub fn flip_passes(&self, bytes: &[u8], spec: Option<IncrementalSpec>) -> Result<IncrementalLogits> {
        incremental_logits_from_bytes(bytes, &self.info.input_shape, &self.info.output_name, self.info.classes, spec)
    }

    /// The logits of a forward pass.
    pub fn logits<'a>(&self, acts: &'a Activations) -> Result<&'a [f32]> {
        acts.get(self.graph.output)
            .and_then(|t| t.to_slice())
            .ok_or_else(|| Error::Engine("the forward pass produced no logits".into()))
    }

    pub fn input_shape(&self) -> &[usize] {
        &self.info.input_shape
    }

    /// True if the graph has a skip connection (an Add of two computed tensors).
    pub fn has_skip_connections(&self) -> bool {
        self.graph.nodes.iter().any(|n| matches!(n.op, Op::Add { .. }))
    }
}
