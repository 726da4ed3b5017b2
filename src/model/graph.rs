//! The explainable graph: a small, typed graph of the operations the relevance pass knows
//! (RLRP.md, "Notation" and "Other operations"). Built from ONNX by [`super::import`], rewritten by
//! [`super::canonise`], walked backwards by [`crate::relevance`].
use super::scalar::ScalarFn;
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
    LeakyRelu {
        alpha: f32,
    },
    Clip {
        min: f32,
        max: f32,
    },
    Sigmoid,
    Tanh,
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    Gelu,
    Elu {
        alpha: f32,
    },
    Softplus,
    /// An element-wise function written out by the exporter (SiLU as `x * Sigmoid(x)`, GELU with Erf
    /// or Tanh, `Sqrt`, ...), fused into one program ([`super::fuse`]). Identity for relevance when
    /// self-gated (`x ⊙ g(x)`), no relevance rule otherwise; its exact derivative for gradients.
    Fused(ScalarFn),
}

impl Activation {
    /// A readable name ("ReLU6", "SiLU", "GELU (tanh)", ...).
    pub fn name(&self) -> &str {
        match self {
            Activation::Relu => "ReLU",
            Activation::LeakyRelu { .. } => "LeakyReLU",
            Activation::Clip { min, max } if *min == 0.0 && *max == 6.0 => "ReLU6",
            Activation::Clip { .. } => "Clip",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
            Activation::HardSigmoid { .. } => "HardSigmoid",
            Activation::HardSwish => "HardSwish",
            Activation::Gelu => "GELU",
            Activation::Elu { .. } => "ELU",
            Activation::Softplus => "Softplus",
            Activation::Fused(f) => &f.name,
        }
    }

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
            Activation::Fused(ref f) => f.apply(x),
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
            Activation::Fused(ref f) => f.derivative(x),
        }
    }
}

/// erf (Abramowitz-Stegun 7.1.26 refined, max error ~1e-7 in f32 use; [`super::scalar::erf64`]).
fn erf(x: f32) -> f32 {
    super::scalar::erf64(x as f64) as f32
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

/// Local response normalisation across the channels (axis 1; AlexNet, GoogLeNet as Caffe exported
/// them): y_c = x_c / (bias + α/size · Σ_{c' ∈ W(c)} x_{c'}²)^β over the window W(c) of `size`
/// channels around c (ONNX's: ⌊(size − 1)/2⌋ before, ⌈(size − 1)/2⌉ after). A normaliser: RLRP.md's
/// constant scale, the identity for relevance; the gradient methods use its exact derivative.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lrn {
    pub size: usize,
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
}

/// y = x ⊙ scale + bias, with `scale` and `bias` broadcast to the input shape (BatchNorm not after a
/// Conv/Gemm, Mul/Div/Add/Sub by a constant): a diagonal linear layer.
#[derive(Clone, Debug)]
pub struct Affine {
    /// Same shape as the input (broadcast at import).
    pub scale: Tensor,
    pub bias: Tensor,
}

/// A tensor viewed as `[outer, n, inner]` around a contiguous block of axes (reductions,
/// normalisations): `n` elements are combined for each of the `outer · inner` positions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Axes3 {
    pub outer: usize,
    pub n: usize,
    pub inner: usize,
}

impl Axes3 {
    /// The view of `shape` around the contiguous axes `first..=last`.
    pub fn of(shape: &[usize], first: usize, last: usize) -> Axes3 {
        Axes3 {
            outer: shape[..first].iter().product(),
            n: shape[first..=last].iter().product(),
            inner: shape[last + 1..].iter().product(),
        }
    }
    pub fn len(&self) -> usize {
        self.outer * self.n * self.inner
    }
    /// Each reduced lane, in the order of the reduction's outputs: `(start, stride)`, its k-th
    /// element at `start + k · stride` of the row-major tensor.
    pub fn lanes(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.outer * self.inner).map(|j| ((j / self.inner) * self.n * self.inner + j % self.inner, self.inner))
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One resampled axis of a Resize: the tensor as `[outer, len_in, inner]` around it when its turn
/// comes, and output `j`'s `window` taps `indices[j·window + k]`, `weights[j·window + k]` (tract's
/// own plan of the axis, so the map is the one its forward pass computes; `kernels/resample.rs`).
#[derive(Clone, Debug, PartialEq)]
pub struct ResampledAxis {
    pub around: Axes3,
    pub len_out: usize,
    pub window: usize,
    pub indices: Vec<usize>,
    pub weights: Vec<f32>,
}

/// LayerNormalization over trailing axes (`inner` = 1) or, written out over the channels of NCHW,
/// any contiguous block: y = (x − mean) / sqrt(var + ε) · γ + β, with γ and β of the full input
/// shape (broadcast at import). RLRP.md: the centring is a linear layer, the division by the
/// standard deviation a constant scale, γ/β a diagonal linear layer with bias.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub axes: Axes3,
    pub epsilon: f32,
    pub gamma: Tensor,
    pub beta: Tensor,
}

/// The linear layers of RLRP.md ("Notation"): every rule treats them through their forward map and its
/// transpose.
#[derive(Clone, Debug)]
pub enum Linear {
    Conv(Conv),
    Dense(Dense),
    AvgPool(Pool2dGeometry),
    GlobalAvgPool {
        channels: usize,
        hw: usize,
    },
    Affine(Affine),
    /// ReduceMean / ReduceSum over a contiguous block of axes: y[o, i] = scale · Σ_k x[o, k, i].
    Reduce {
        axes: Axes3,
        scale: f32,
    },
    /// The centring x − mean(x) over a contiguous block of axes (weights I − 1/n), as LayerNorm and
    /// its written-out form `Sub(x, ReduceMean(x))` do.
    Centre(Axes3),
    /// Resize with constant scales: the interpolation of each resized axis in turn, a linear layer
    /// whose weights are the interpolation's (nearest, linear, cubic; RLRP.md, "Notation").
    Resize(Vec<ResampledAxis>),
    /// Attention mixing with the attention weights held constant (RLRP.md): per batch b,
    /// y_b = A_b · V_b (`weights_left`) or y_b = V_b · A_b, with V [batch, k, n] (or [batch, m, k])
    /// the layer input. Built during the walk from the forward pass's attention weights.
    Mix {
        batch: usize,
        m: usize,
        k: usize,
        n: usize,
        weights: Vec<f32>,
        weights_left: bool,
    },
}

impl Linear {
    pub fn kind(&self) -> &'static str {
        match self {
            Linear::Conv(_) => "Conv",
            Linear::Dense(_) => "Dense",
            Linear::AvgPool(_) => "AvgPool",
            Linear::GlobalAvgPool { .. } => "GlobalAvgPool",
            Linear::Affine(_) => "Affine",
            Linear::Reduce { .. } => "Reduce",
            Linear::Centre(_) => "Centre",
            Linear::Mix { .. } => "AttentionMix",
            Linear::Resize(_) => "Resize",
        }
    }
    /// Conv and Dense layers: those the LRP composites assign rules to (Zennit's `Linear` type).
    pub fn is_weighted(&self) -> bool {
        matches!(self, Linear::Conv(_) | Linear::Dense(_))
    }
}

/// One piece of a concatenation: a computed input (its index among the node's inputs) or a constant
/// of the given length along the axis (a class token), which takes no relevance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Piece {
    Input(usize),
    Constant(usize),
}

/// A strided range along one axis (Slice, Split).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AxisRange {
    pub axis: usize,
    pub start: usize,
    pub step: usize,
}

#[derive(Clone, Debug)]
pub enum Op {
    Linear(Linear),
    Activation(Activation),
    MaxPool(Pool2dGeometry),
    /// y = a + b of two computed tensors of the same shape (a skip connection), or with
    /// `subtract` y = a − b, the sum of a and −b (a pooling token mixer's `pool(x) − x`): each
    /// operand takes the share of its own contribution (a, −b) by the method's skip rule.
    Add {
        subtract: bool,
    },
    /// Flatten, Reshape, Squeeze, Unsqueeze: same data, new shape.
    Reshape,
    Transpose(Vec<usize>),
    Concat {
        axis: usize,
        pieces: Vec<Piece>,
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
    /// y = x ⊙ g (or x ⊘ g) of two computed tensors, g broadcast to x's shape: a gate
    /// (squeeze-and-excitation, GLU) or a normaliser (the standard deviation of a written-out
    /// LayerNorm). `gate` is the index of g among the inputs. RLRP.md: g is a constant, R_x = R_y,
    /// the gate branch gets no relevance; gradients use the product (quotient) rule.
    Gate {
        gate: usize,
        divide: bool,
    },
    /// MatMul (or a matrix-product Einsum) of two computed tensors, batched over equal leading
    /// axes: y = a · b, or y = a · bᵀ with `transpose_b` (q·kᵀ written as `...id,...jd->...ij`).
    /// With `weights` (the index of an input computed by a Softmax: attention weights) it is
    /// attention mixing, linear in the other input (RLRP.md); without, a bilinear product that
    /// only the gradient methods can pass.
    MatMul {
        weights: Option<usize>,
        transpose_b: bool,
    },
    /// Softmax inside the network (attention): only gradients pass it (relevance never reaches the
    /// attention weights).
    Softmax {
        axis: usize,
    },
    LayerNorm(LayerNorm),
    Lrn(Lrn),
    /// ReduceMax / GlobalMaxPool over a contiguous block of axes: winner takes all (first on ties).
    ReduceMax(Axes3),
    /// ReduceL2 over a contiguous block of axes, y = ‖x‖₂: the statistic of an L2 normaliser
    /// (`x / ‖x‖`, cosine attention), whose branch only gradients pass (RLRP.md: the normaliser is
    /// a constant).
    ReduceL2(Axes3),
    /// Slice / Split: every output element is input element `start + i·step` along each listed axis.
    Slice(Vec<AxisRange>),
    /// Gather with constant indices along `axis` (the class token: index 0); `indices` are already
    /// non-negative; the output shape is the graph's.
    Gather {
        axis: usize,
        indices: Vec<usize>,
    },
    /// Expand of a computed tensor: relevance (and gradient) summed over the copies.
    Broadcast,
    /// Tile of a computed tensor (each axis repeated whole): relevance (and gradient) summed over
    /// the tiles.
    Tile,
}

impl Op {
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Linear(l) => l.kind(),
            Op::Activation(_) => "Activation",
            Op::MaxPool(_) => "MaxPool",
            Op::Add { subtract: false } => "Add",
            Op::Add { subtract: true } => "Sub",
            Op::Reshape => "Reshape",
            Op::Transpose(_) => "Transpose",
            Op::Concat { .. } => "Concat",
            Op::Pad(_) => "Pad",
            Op::Identity => "Identity",
            Op::Saturate { .. } => "Saturate",
            Op::Gate { .. } => "Gate",
            Op::MatMul { weights: Some(_), .. } => "Attention",
            Op::MatMul { weights: None, .. } => "MatMul",
            Op::Softmax { .. } => "Softmax",
            Op::LayerNorm(_) => "LayerNorm",
            Op::Lrn(_) => "LRN",
            Op::ReduceMax(_) => "ReduceMax",
            Op::ReduceL2(_) => "ReduceL2",
            Op::Slice(_) => "Slice",
            Op::Gather { .. } => "Gather",
            Op::Broadcast => "Broadcast",
            Op::Tile => "Tile",
        }
    }

    /// The inputs (indices into the node's inputs) whose forward activations the backward pass of
    /// this op reads, for any method, or (`rlrp_only`) for R-LRP alone, which passes relevance
    /// through activations, saturations, gates and softmax without reading them (RLRP.md); the
    /// forward plan keeps exactly those ([`crate::forward::values_to_keep`]).
    pub fn reads_activations(&self, inputs: usize, rlrp_only: bool) -> Vec<usize> {
        match self {
            Op::Activation(_)
            | Op::Saturate { .. }
            | Op::Gate { .. }
            | Op::Softmax { .. }
            | Op::Lrn(_)
            | Op::ReduceL2(_)
                if rlrp_only =>
            {
                Vec::new()
            }
            Op::Linear(_)
            | Op::Activation(_)
            | Op::MaxPool(_)
            | Op::Add { .. }
            | Op::Saturate { .. }
            | Op::Gate { .. }
            | Op::MatMul { .. }
            | Op::Softmax { .. }
            | Op::LayerNorm(_)
            | Op::Lrn(_)
            | Op::ReduceMax(_)
            | Op::ReduceL2(_) => (0..inputs).collect(),
            Op::Reshape
            | Op::Transpose(_)
            | Op::Concat { .. }
            | Op::Pad(_)
            | Op::Identity
            | Op::Slice(_)
            | Op::Gather { .. }
            | Op::Broadcast
            | Op::Tile => Vec::new(),
        }
    }

    /// The inputs that relevance flows to (conservative propagation: not into gates, normalisers
    /// or attention weights).
    pub fn relevance_inputs(&self, inputs: usize) -> Vec<usize> {
        match self {
            Op::Gate { gate, .. } => (0..inputs).filter(|i| i != gate).collect(),
            Op::MatMul { weights: Some(w), .. } => (0..inputs).filter(|i| i != w).collect(),
            _ => (0..inputs).collect(),
        }
    }

    /// Why relevance cannot pass this op, if it cannot (RLRP.md has no rule for it); gradients
    /// pass every op.
    pub fn relevance_refusal(&self) -> Option<&'static str> {
        match self {
            Op::MatMul { weights: None, .. } => Some(
                "a product of two computed tensors that is neither attention (no Softmax on either side) nor a gate has no relevance rule in RLRP.md",
            ),
            Op::Softmax { .. } => Some("relevance would flow into a Softmax inside the network (RLRP.md: attention weights are constants and get no relevance)"),
            Op::ReduceL2(_) => Some("relevance would flow into a Euclidean norm (ReduceL2): RLRP.md has a rule for it only as a normaliser's statistic (x / ‖x‖), which gets no relevance"),
            Op::Activation(Activation::Fused(f)) if !f.self_gated => Some(
                "this element-wise function is not of the form x ⊙ g(x) (RLRP.md has a rule only for such activations)",
            ),
            _ => None,
        }
    }

    /// Shape-only operations (the first-layer search looks through them).
    pub fn is_shape_only(&self) -> bool {
        matches!(
            self,
            Op::Reshape
                | Op::Transpose(_)
                | Op::Pad(_)
                | Op::Identity
                | Op::Saturate { .. }
                | Op::Slice(_)
                | Op::Gather { .. }
        )
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

    /// A readable label per node for the layer views: its kind and its index among the nodes of that
    /// kind ("Conv 12", "SiLU 3", "Attention 2"), in place of raw ONNX node ids.
    pub fn labels(&self) -> Vec<String> {
        let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        self.nodes
            .iter()
            .map(|n| {
                let kind = match &n.op {
                    Op::Activation(a) => a.name().to_string(),
                    Op::Linear(Linear::Affine(_)) if n.onnx_op.contains("BatchNormalization") => {
                        "BatchNorm".to_string()
                    }
                    Op::Linear(Linear::Reduce { .. }) => "ReduceMean/Sum".to_string(),
                    op => op.kind().to_string(),
                };
                let k = counts.entry(kind.clone()).or_insert(0);
                *k += 1;
                format!("{kind} {k}")
            })
            .collect()
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
                op if op.is_shape_only() && from_input => reaches_input[n.output] = true,
                _ => {}
            }
        }
        firsts
    }
}
