//! The explainable graph: a small, typed graph of the operations the relevance pass knows
//! (RLRP.md, "Notation" and "Other operations"). Built from ONNX by [`super::import`], rewritten by
//! [`super::canonise`], walked backwards by [`crate::relevance`].
use crate::kernels::conv::Conv2dGeometry;
use crate::kernels::pool::Pool2dGeometry;
use crate::tensor::Tensor;

/// Index of a value (a tensor flowing between nodes) in [`Graph::values`].
pub type ValueId = usize;

#[derive(Clone, Debug)]
pub struct Value {
    /// ONNX tensor name (used to fetch the activation from the forward pass).
    pub name: String,
    /// Concrete shape (batch included, batch = 1).
    pub shape: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct Node {
    /// ONNX node name (or a generated one if the node had none).
    pub name: String,
    /// The ONNX operator(s) this node came from, e.g. "Conv" or "Conv+BatchNormalization".
    pub onnx_op: String,
    pub op: Op,
    /// Computed inputs (constants are folded into `op`).
    pub inputs: Vec<ValueId>,
    pub output: ValueId,
}

/// Element-wise activations. For every LRP rule and R-LRP they pass relevance unchanged
/// (RLRP.md, "Other operations"); the gradient methods use their derivative.
#[derive(Clone, Debug, PartialEq)]
pub enum Activation {
    Relu,
    LeakyRelu { alpha: f32 },
    Clip { min: f32, max: f32 },
    Sigmoid,
    Tanh,
    HardSigmoid { alpha: f32, beta: f32 },
    HardSwish,
    Gelu,
    Elu { alpha: f32 },
    Softplus,
}

impl Activation {
    pub fn apply(&self, x: f32) -> f32 {
        match *self {
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu { alpha } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Activation::Clip { min, max } => x.max(min).min(max),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Tanh => x.tanh(),
            Activation::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
            Activation::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Activation::Gelu => 0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2)),
            Activation::Elu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha * (x.exp() - 1.0)
                }
            }
            Activation::Softplus => {
                if x > 20.0 {
                    x
                } else {
                    x.exp().ln_1p()
                }
            }
        }
    }

    /// d activation / dx at x (the derivative PyTorch's autograd uses: ReLU'(0) = 0, Clip' = 0 at
    /// and beyond the bounds).
    pub fn derivative(&self, x: f32) -> f32 {
        match *self {
            Activation::Relu => (x > 0.0) as u8 as f32,
            Activation::LeakyRelu { alpha } => {
                if x > 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            Activation::Clip { min, max } => (x > min && x < max) as u8 as f32,
            Activation::Sigmoid => {
                let s = 1.0 / (1.0 + (-x).exp());
                s * (1.0 - s)
            }
            Activation::Tanh => 1.0 - x.tanh().powi(2),
            Activation::HardSigmoid { alpha, beta } => {
                let v = alpha * x + beta;
                if v > 0.0 && v < 1.0 {
                    alpha
                } else {
                    0.0
                }
            }
            Activation::HardSwish => {
                if x < -3.0 {
                    0.0
                } else if x > 3.0 {
                    1.0
                } else {
                    x / 3.0 + 0.5
                }
            }
            Activation::Gelu => {
                let cdf = 0.5 * (1.0 + erf(x / std::f32::consts::SQRT_2));
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f32::consts::PI).sqrt();
                cdf + x * pdf
            }
            Activation::Elu { alpha } => {
                if x > 0.0 {
                    1.0
                } else {
                    alpha * x.exp()
                }
            }
            Activation::Softplus => 1.0 / (1.0 + (-x).exp()),
        }
    }
}

/// erf by Abramowitz-Stegun 7.1.26 refined (max error ~1e-7 in f32 use).
fn erf(x: f32) -> f32 {
    let x = x as f64;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let y = 1.0
        - t * (-x * x - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    (if x >= 0.0 { y } else { -y }) as f32
}

/// A 2-D convolution (1-D convolutions are imported with height 1). Weight layout
/// [Cout, Cin/groups, kh, kw], bias [Cout].
#[derive(Clone, Debug)]
pub struct Conv {
    pub geometry: Conv2dGeometry,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// A dense layer y = x·W + b over the last axis: x [rows, k], W [k, n], b [n].
#[derive(Clone, Debug)]
pub struct Dense {
    pub rows: usize,
    pub k: usize,
    pub n: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// y = x ⊙ scale + bias, with `scale` and `bias` broadcast to the input shape (BatchNorm not after a
/// Conv/Gemm, Mul/Div/Add/Sub by a constant): a diagonal linear layer.
#[derive(Clone, Debug)]
pub struct Affine {
    /// Same shape as the input (broadcast at import).
    pub scale: Tensor,
    pub bias: Tensor,
}

/// The linear layers of RLRP.md ("Notation"): every rule treats them through their forward map and its
/// transpose.
#[derive(Clone, Debug)]
pub enum Linear {
    Conv(Conv),
    Dense(Dense),
    AvgPool(Pool2dGeometry),
    GlobalAvgPool { channels: usize, hw: usize },
    Affine(Affine),
}

impl Linear {
    pub fn kind(&self) -> &'static str {
        match self {
            Linear::Conv(_) => "Conv",
            Linear::Dense(_) => "Dense",
            Linear::AvgPool(_) => "AvgPool",
            Linear::GlobalAvgPool { .. } => "GlobalAvgPool",
            Linear::Affine(_) => "Affine",
        }
    }
    /// Conv and Dense layers: those the LRP composites assign rules to (Zennit's `Linear` type).
    pub fn is_weighted(&self) -> bool {
        matches!(self, Linear::Conv(_) | Linear::Dense(_))
    }
}

#[derive(Clone, Debug)]
pub enum Op {
    Linear(Linear),
    Activation(Activation),
    MaxPool(Pool2dGeometry),
    /// y = a + b of two computed tensors of the same shape (a skip connection).
    Add,
    /// Flatten, Reshape, Squeeze, Unsqueeze: same data, new shape.
    Reshape,
    Transpose(Vec<usize>),
    Concat {
        axis: usize,
    },
    /// Constant-mode padding: (begin, end) per axis.
    Pad(Vec<(usize, usize)>),
    /// Dropout, Identity, Cast, and DequantizeLinear (or a QuantizeLinear whose range is unknown)
    /// on activations.
    Identity,
    /// QuantizeLinear on an activation: it saturates outside [min, max], the real interval its
    /// integer type holds (static QDQ exports drop the Relu/Clip this saturation already does).
    /// The identity for relevance (RLRP.md, fake quantisation); for gradients the clip to
    /// [min, max], rounding passing straight through.
    Saturate {
        min: f32,
        max: f32,
    },
}

impl Op {
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Linear(l) => l.kind(),
            Op::Activation(_) => "Activation",
            Op::MaxPool(_) => "MaxPool",
            Op::Add => "Add",
            Op::Reshape => "Reshape",
            Op::Transpose(_) => "Transpose",
            Op::Concat { .. } => "Concat",
            Op::Pad(_) => "Pad",
            Op::Identity => "Identity",
            Op::Saturate { .. } => "Saturate",
        }
    }
}

/// The explainable graph. `nodes` are in topological order.
#[derive(Clone, Debug)]
pub struct Graph {
    pub values: Vec<Value>,
    pub nodes: Vec<Node>,
    pub input: ValueId,
    /// The logits (a trailing Softmax is removed by canonisation).
    pub output: ValueId,
}

impl Graph {
    /// How many nodes read each value (fan-out).
    pub fn reader_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.values.len()];
        for n in &self.nodes {
            for &i in &n.inputs {
                counts[i] += 1;
            }
        }
        counts[self.output] += 1;
        counts
    }

    /// The node producing a value, if any.
    pub fn producer(&self, v: ValueId) -> Option<usize> {
        self.nodes.iter().position(|n| n.output == v)
    }

    /// Number of Conv/Dense layers.
    pub fn weighted_layer_count(&self) -> usize {
        self.nodes.iter().filter(|n| matches!(&n.op, Op::Linear(l) if l.is_weighted())).count()
    }

    /// Indices of the "first layers" (Zennit's SpecialFirstLayerMapComposite): Conv/Dense nodes that
    /// read the network input through nothing but shape-only operations.
    pub fn first_layers(&self) -> Vec<usize> {
        let mut reaches_input = vec![false; self.values.len()];
        reaches_input[self.input] = true;
        let mut firsts = Vec::new();
        for (ix, n) in self.nodes.iter().enumerate() {
            let from_input = n.inputs.first().map(|&i| reaches_input[i]).unwrap_or(false);
            match &n.op {
                Op::Linear(l) if l.is_weighted() && from_input => firsts.push(ix),
                Op::Reshape | Op::Transpose(_) | Op::Pad(_) | Op::Identity | Op::Saturate { .. } if from_input => {
                    reaches_input[n.output] = true
                }
                _ => {}
            }
        }
        firsts
    }
}
