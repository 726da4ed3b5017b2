//! The one place that knows each ONNX operator: which of its inputs carry data from the network
//! input (the others are weights, shapes, axes: constants once the input shape is fixed), its
//! scalar function if it is element-wise (so that written-out activations can be fused,
//! [`super::fuse`]), and how it becomes an explainable [`Op`] ([`super::import`]'s builders).
//! Relevance and gradient behaviour belong to the [`Op`] it becomes (RLRP.md's tables;
//! `relevance/walk.rs`). Adding an operator is one entry here (plus its kernels if it needs new ones);
//! an operator not listed here is an error naming it and its node.
use super::constants::Constants;
use super::graph::{Activation, Op};
use super::import::{builders as b, BuildCtx};
use super::proto::Attrs;
use super::scalar::{Binary, Unary};
use crate::error::Result;
use tract_onnx::pb::NodeProto;

/// Which inputs carry data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DataInputs {
    /// Only input 0 (the others are weights, shapes, axes, quantisation parameters).
    First,
    /// Every input (element-wise binaries, Concat, MatMul).
    All,
    /// None: the output depends on shapes only (Shape, Size, ConstantOfShape...).
    None,
}

/// The scalar function of an element-wise operator.
#[derive(Clone, Copy)]
pub enum Scalar {
    /// Not element-wise.
    No,
    /// One data input; the function may read attributes (and constant inputs via the context).
    Unary(fn(&NodeProto, &mut Constants) -> Result<Unary>),
    /// Two operands, either of which may be a constant.
    Binary(Binary),
}

pub struct OnnxOp {
    pub name: &'static str,
    pub data: DataInputs,
    pub scalar: Scalar,
    /// Builds the explainable op (None: the operator only ever computes constants, e.g. Shape;
    /// reaching it on the data path is an error).
    pub build: Option<fn(&mut BuildCtx) -> Result<Op>>,
    /// Outputs beyond the first that may be used (Split).
    pub multi_output: bool,
}

const fn op(name: &'static str, data: DataInputs, build: fn(&mut BuildCtx) -> Result<Op>) -> OnnxOp {
    OnnxOp { name, data, scalar: Scalar::No, build: Some(build), multi_output: false }
}

const fn unary(name: &'static str, f: fn(&NodeProto, &mut Constants) -> Result<Unary>) -> OnnxOp {
    OnnxOp { name, data: DataInputs::First, scalar: Scalar::Unary(f), build: Some(b::unary), multi_output: false }
}

const fn binary(name: &'static str, f: Binary) -> OnnxOp {
    OnnxOp { name, data: DataInputs::All, scalar: Scalar::Binary(f), build: Some(b::binary), multi_output: false }
}

const fn shape_only(name: &'static str) -> OnnxOp {
    OnnxOp { name, data: DataInputs::None, scalar: Scalar::No, build: None, multi_output: false }
}

fn act(a: Activation) -> Result<Unary> {
    Ok(Unary::Act(a))
}

use DataInputs::{All, First};

/// Every ONNX operator the importer knows.
pub static REGISTRY: &[OnnxOp] = &[
    // Linear layers (RLRP.md, "Notation").
    op("Conv", First, b::conv),
    op("Gemm", First, b::gemm),
    op("MatMul", All, b::matmul),
    op("Einsum", All, b::einsum),
    op("BatchNormalization", First, b::batch_norm),
    op("MaxPool", First, b::pool),
    op("AveragePool", First, b::pool),
    op("GlobalAveragePool", First, b::global_average_pool),
    op("GlobalMaxPool", First, b::global_max_pool),
    op("ReduceMean", First, b::reduce),
    op("ReduceSum", First, b::reduce),
    op("ReduceMax", First, b::reduce),
    op("ReduceL2", First, b::reduce),
    op("LayerNormalization", First, b::layer_norm),
    op("InstanceNormalization", First, b::instance_norm),
    op("LRN", First, b::lrn),
    op("Resize", First, super::resize::build),
    // Activations: identity for relevance, their derivative for gradients.
    unary("Relu", |_, _| act(Activation::Relu)),
    unary("LeakyRelu", |n, _| act(Activation::LeakyRelu { alpha: Attrs::of(n).float("alpha").unwrap_or(0.01) })),
    unary("Clip", b::clip),
    unary("Sigmoid", |_, _| act(Activation::Sigmoid)),
    unary("Tanh", |_, _| act(Activation::Tanh)),
    unary("HardSigmoid", |n, _| {
        let a = Attrs::of(n);
        act(Activation::HardSigmoid { alpha: a.float("alpha").unwrap_or(0.2), beta: a.float("beta").unwrap_or(0.5) })
    }),
    unary("HardSwish", |_, _| act(Activation::HardSwish)),
    unary("Gelu", b::gelu),
    unary("Elu", |n, _| act(Activation::Elu { alpha: Attrs::of(n).float("alpha").unwrap_or(1.0) })),
    unary("Softplus", |_, _| act(Activation::Softplus)),
    // Element-wise functions with no relevance rule of their own: fused into written-out
    // activations (GELU's Erf, LayerNorm's Sqrt) or gate branches, where only gradients pass.
    unary("Erf", |_, _| Ok(Unary::Erf)),
    unary("Exp", |_, _| Ok(Unary::Exp)),
    unary("Log", |_, _| Ok(Unary::Log)),
    unary("Sqrt", |_, _| Ok(Unary::Sqrt)),
    unary("Reciprocal", |_, _| Ok(Unary::Reciprocal)),
    unary("Neg", |_, _| Ok(Unary::Neg)),
    unary("Abs", |_, _| Ok(Unary::Abs)),
    binary("Add", Binary::Add),
    binary("Sub", Binary::Sub),
    binary("Mul", Binary::Mul),
    binary("Div", Binary::Div),
    binary("Pow", Binary::Pow),
    binary("Max", Binary::Max),
    binary("Min", Binary::Min),
    // Routing and shapes.
    op("Flatten", First, b::reshape),
    op("Reshape", First, b::reshape),
    op("Squeeze", First, b::reshape),
    op("Unsqueeze", First, b::reshape),
    op("Transpose", First, b::transpose),
    op("Concat", All, b::concat),
    OnnxOp { name: "Split", data: First, scalar: Scalar::No, build: Some(b::split), multi_output: true },
    op("Slice", First, b::slice),
    op("Gather", First, b::gather),
    op("Expand", First, b::broadcast),
    op("Tile", First, b::tile),
    op("Pad", First, b::pad),
    op("Dropout", First, b::identity),
    op("Identity", First, b::identity),
    op("Cast", First, b::identity),
    op("Softmax", First, b::softmax),
    op("LogSoftmax", First, b::softmax),
    op("QuantizeLinear", First, b::quantize),
    op("DequantizeLinear", First, b::identity),
    // Shape arithmetic: constant once the input shape is fixed.
    shape_only("Shape"),
    shape_only("Size"),
    shape_only("ConstantOfShape"),
    shape_only("Constant"),
];

/// The registry entry of an operator of the default ONNX domain.
pub fn lookup(node: &NodeProto) -> Option<&'static OnnxOp> {
    if !node.domain.is_empty() && node.domain != "ai.onnx" {
        return None;
    }
    REGISTRY.iter().find(|o| o.name == node.op_type)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_operator_is_listed_once() {
        let mut names: Vec<&str> = super::REGISTRY.iter().map(|o| o.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate registry entries");
    }
}
