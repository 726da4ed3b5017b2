//! The op through which our convolution kernels run inside tract's forward plan: one op for every
//! kernel of ours ([`OurKernel`]: 1×1, [`super::pointwise`]; depthwise, [`super::depthwise`]),
//! with the clamp after it folded in where nothing else reads its output
//! ([`super::folded_clamps`]), the swap that puts it in place of tract's `Conv`, and the layout of
//! its constant weights for the kernel, once per plan ([`pack_constant_kernels`]). RLRP.md has
//! no section here: this is only how the forward pass computes `Conv` (its value is the ONNX one,
//! to rounding). Adding a kernel is a variant of [`OurKernel`] and a matcher for [`swap_in`].
use crate::kernels::conv::{depthwise_forward, Conv2dGeometry};
use crate::kernels::elementwise::Clamp;
use crate::kernels::pointwise::{pack_rows, pointwise, pointwise_packed};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::Conv;
use tract_onnx::tract_core::ops::konst::Const;

/// Which of our kernels computes a convolution, with its fixed geometry.
#[derive(Debug, Clone, PartialEq)]
pub enum OurKernel {
    /// `y = W x + b` per position: the kernel `[M, K, 1, 1]`, stride 1, no padding, one group.
    Pointwise { in_channels: usize, out_channels: usize, hw: [usize; 2] },
    /// One input channel per group, every channel its own group: the kernel `[C, 1, kh, kw]`.
    Depthwise(Conv2dGeometry),
}

impl OurKernel {
    /// What the kernel computes, for messages and the op's name.
    fn what(&self) -> &'static str {
        match self {
            Self::Pointwise { .. } => "1×1 convolution",
            Self::Depthwise(_) => "depthwise convolution",
        }
    }

    /// Input channels, height and width of one image.
    fn in_chw(&self) -> [usize; 3] {
        match self {
            Self::Pointwise { in_channels, hw, .. } => [*in_channels, hw[0], hw[1]],
            Self::Depthwise(g) => [g.in_channels, g.in_h, g.in_w],
        }
    }

    /// Output channels, height and width of one image.
    fn out_chw(&self) -> [usize; 3] {
        match self {
            Self::Pointwise { out_channels, hw, .. } => [*out_channels, hw[0], hw[1]],
            Self::Depthwise(g) => [g.out_channels, g.out_h, g.out_w],
        }
    }

    fn weight_len(&self) -> usize {
        match self {
            Self::Pointwise { in_channels, out_channels, .. } => in_channels * out_channels,
            Self::Depthwise(g) => g.weight_len(),
        }
    }

    /// `y = clamp(conv(x, w) + bias)` on one image; every value of `y` is written. `packed`: `w`
    /// is laid out for the kernel ([`OurConv::kernel_packed`]).
    fn run(&self, x: &[f32], w: &[f32], packed: bool, bias: &[f32], clamp: Option<Clamp>, y: &mut [f32]) {
        match self {
            Self::Pointwise { .. } if packed => pointwise_packed(x, w, bias, clamp, y),
            Self::Pointwise { .. } => pointwise(x, w, bias, clamp, y),
            Self::Depthwise(g) => depthwise_forward(g, x, w, Some(bias), clamp, y),
        }
    }

    /// The kernel's weights laid out for its blocks, when it reads them so.
    fn packed(&self, w: &[f32]) -> Option<Vec<f32>> {
        match self {
            Self::Pointwise { out_channels, .. } => Some(pack_rows(w, *out_channels)),
            Self::Depthwise(_) => None,
        }
    }
}

/// A convolution on `[N, C, H, W]` (or `[C, H, W]`) inputs run by one of our kernels; its inputs
/// are `x`, the kernel and the bias (one value per output channel, or one for all).
#[derive(Debug, Clone, PartialEq)]
pub struct OurConv {
    kernel: OurKernel,
    /// Whether `x` has a batch axis (NCHW) or not (CHW).
    batched: bool,
    /// The clamp folded in ([`super::folded_clamps`]); none at first.
    clamp: Option<Clamp>,
    /// Whether the kernel input is laid out for the kernel already ([`pack_constant_kernels`]):
    /// a 1×1 convolution's weights, when they are a constant read by nothing else.
    kernel_packed: bool,
}

impl Eq for OurConv {}

impl OurConv {
    pub fn new(kernel: OurKernel, batched: bool) -> Self {
        Self { kernel, batched, clamp: None, kernel_packed: false }
    }

    /// This op with `clamp` applied to its output, if it has none yet.
    pub(super) fn with_clamp(&self, clamp: Clamp) -> Option<Self> {
        self.clamp.is_none().then(|| Self { clamp: Some(clamp), ..self.clone() })
    }

    fn output_shape(&self, batch: usize) -> Vec<usize> {
        let chw = self.kernel.out_chw();
        if self.batched {
            [&[batch][..], &chw].concat()
        } else {
            chw.to_vec()
        }
    }
}

impl Op for OurConv {
    fn name(&self) -> StaticName {
        match self.kernel {
            OurKernel::Pointwise { .. } => "OurPointwise".into(),
            OurKernel::Depthwise(_) => "OurDepthwise".into(),
        }
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?}, {:?}", self.kernel, self.clamp)])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for OurConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let what = self.kernel.what();
        let [x, kernel, bias] = &*inputs else { bail!("our {what} takes 3 inputs, got {}", inputs.len()) };
        let x_view = x.try_as_plain_ram()?;
        let x = x_view.as_slice::<f32>()?;
        let kernel_view = kernel.try_as_plain_ram()?;
        let kernel = kernel_view.as_slice::<f32>()?;
        let bias_view = bias.try_as_plain_ram()?;
        let bias = bias_view.as_slice::<f32>()?;
        let ([c, h, w], [m, oh, ow]) = (self.kernel.in_chw(), self.kernel.out_chw());
        ensure!(
            kernel.len() == self.kernel.weight_len(),
            "{what} kernel of {} values, not {}",
            kernel.len(),
            self.kernel.weight_len()
        );
        let bias: Vec<f32> = match bias.len() {
            1 => vec![bias[0]; m],
            n if n == m => bias.to_vec(),
            n => bail!("{what} bias of {n} values for {m} channels"),
        };
        let (image, out_image) = (c * h * w, m * oh * ow);
        ensure!(
            !x.is_empty() && x.len().is_multiple_of(image),
            "{what} input of {} values is not a whole number of {c}×{h}×{w} images",
            x.len()
        );
        // Written in tract's own storage, which the kernel fills whole: no zeroing pass and no copy
        // into a tensor afterwards (in the page, the two took ~2 ms of Lite0's forward pass).
        // SAFETY: f32 has no invalid bit patterns, and every kernel writes every output value
        // before any is read.
        let mut y = unsafe { Tensor::uninitialized::<f32>(&self.output_shape(x.len() / image))? };
        {
            let mut y_view = y.try_as_plain_ram_mut()?;
            let y_slice = y_view.as_slice_mut::<f32>()?;
            for (xn, yn) in x.chunks_exact(image).zip(y_slice.chunks_exact_mut(out_image)) {
                self.kernel.run(xn, kernel, self.kernel_packed, &bias, self.clamp, yn);
            }
        }
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for OurConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 3, "our {} takes 3 inputs", self.kernel.what());
        let mut shape: TVec<TDim> = self.output_shape(1).into_iter().map(TDim::from).collect();
        if self.batched {
            shape[0] = inputs[0].shape[0].clone();
        }
        Ok(tvec!(f32::fact(shape)))
    }

    as_op!();
}

/// Replaces, in place, every `Conv` of `model` for which `ours` answers an op (given the conv and
/// its three input facts): same node, same inputs and outputs, so the values the relevance pass
/// keeps are untouched. A replacement that would not type exactly as tract's `Conv` did is not
/// made. Returns how many were replaced.
pub fn swap_in(model: &mut TypedModel, ours: impl Fn(&Conv, [&TypedFact; 3]) -> Option<OurConv>) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes.len() {
        let Some(conv) = model.nodes[id].op_as::<Conv>() else { continue };
        let inputs = &model.nodes[id].inputs;
        if inputs.len() != 3 {
            continue;
        }
        let facts = [model.outlet_fact(inputs[0])?, model.outlet_fact(inputs[1])?, model.outlet_fact(inputs[2])?];
        let Some(op) = ours(conv, facts) else { continue };
        let typed = op.output_facts(&model.node_input_facts(id)?)?.remove(0);
        let theirs = &model.nodes[id].outputs[0].fact;
        if typed.shape != theirs.shape || typed.datum_type != theirs.datum_type {
            continue;
        }
        model.nodes[id].op = Box::new(op);
        replaced += 1;
    }
    Ok(replaced)
}

/// Lays out, in place, the constant weights of every op of ours whose kernel reads them packed
/// (the 1×1 one: [`crate::kernels::pointwise::pack_rows`]) and that nothing else reads, and marks
/// the op: packed once, not at every pass, and held once (a copy packed aside would double the
/// weights in memory). The constant keeps its shape; only the op reads its values. Returns how
/// many were packed.
pub fn pack_constant_kernels(model: &mut TypedModel) -> TractResult<usize> {
    let mut packed = 0;
    for id in 0..model.nodes.len() {
        let Some(op) = model.nodes[id].op_as::<OurConv>().filter(|op| !op.kernel_packed) else { continue };
        let Some(&kernel) = model.nodes[id].inputs.get(1) else { continue };
        let source = &model.nodes[kernel.node];
        let Some(konst) = source.op_as::<Const>() else { continue };
        if konst.exotic_fact().is_some()
            || source.outputs.len() != 1
            || source.outputs[0].successors.len() != 1
            || model.outputs.contains(&kernel)
            || konst.val().datum_type() != f32::datum_type()
        {
            continue;
        }
        let values = konst.val().try_as_plain_ram()?;
        let Some(layout) = op.kernel.packed(values.as_slice::<f32>()?) else { continue };
        let tensor = Arc::new(tensor1(&layout).into_shape(konst.val().shape())?);
        let op = OurConv { kernel_packed: true, ..op.clone() };
        let source = &mut model.nodes[kernel.node];
        source.outputs[0].fact = TypedFact::try_from(&tensor)?;
        source.op = Box::new(Const::new(tensor)?);
        model.nodes[id].op = Box::new(op);
        packed += 1;
    }
    Ok(packed)
}
