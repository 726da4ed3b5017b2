//! 1×1 convolutions of tract's forward plan in the browser, run by our kernel
//! ([`crate::kernels::pointwise`]), with the ReLU or ReLU6 that follows folded in where nothing
//! else reads the convolution's output. RLRP.md has no section here: this is only how the forward
//! pass computes `Conv` (its value is the ONNX one, to rounding).
//!
//! Why: tract turns a 1×1 convolution into a matrix product that first packs its whole input in a
//! pass of its own, then pays a fixed cost per output tile that does not shrink with the depth.
//! Timed node by node in the page's engine (EfficientNet-Lite0, Chromium), the packing took
//! 0.45–0.53 ms of the 24-channel layers of 56×56 (1.1–1.5 ms each in all), and the products of
//! 16–24 input channels ran at 5.6–7.6 GMAC/s against 12–14 for the others. Ours, in a Chromium
//! micro-benchmark (median of 40 runs): 1.5 ms for 16 → 96 channels of 112×112 (tract 3.4 ms and
//! its packing), 0.8 ms for 24 → 144 of 56×56 (1.5), 0.51 ms for 96 → 24 of 56×56 (1.1), the
//! 14×14 layers 5–10 % under tract's; on 7×7 maps its 16-wide blocks waste a third of their work
//! and tract's product stays. [`use_our_pointwise`] swaps the op in before tract's declutter
//! (which would make it an `EinSum`), on every f32 NCHW (or CHW) 1×1, stride-1, unpadded,
//! ungrouped convolution of at least [`MIN_POSITIONS`] positions and at most [`MAX_CHANNELS`]
//! input channels; [`super::folded_clamps`] then folds the clamp after it into it.
use crate::kernels::elementwise::Clamp;
use crate::kernels::pointwise::pointwise;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// Input channels up to which our kernel runs a 1×1 convolution: its inputs for 256 positions
/// (1 MB at most) then stay in cache while every block of output channels reads them.
pub const MAX_CHANNELS: usize = 1024;

/// Positions (H·W) below which tract keeps the convolution: our blocks are 16 positions wide, the
/// last one shifted back over its predecessor (at 196 positions 6 % of the work is done twice, at
/// 49 a third).
pub const MIN_POSITIONS: usize = 128;

/// A 1×1 convolution `y = clamp(W x + b)` on `[N, K, H, W]` (or `[K, H, W]`) inputs, the kernel
/// `[M, K, 1, 1]` and the bias (`[M]`, or one value for every channel).
#[derive(Debug, Clone, PartialEq)]
pub struct OurPointwise {
    in_channels: usize,
    out_channels: usize,
    /// H and W.
    hw: [usize; 2],
    /// Whether `x` has a batch axis (NCHW) or not (CHW).
    batched: bool,
    /// The clamp folded in ([`super::folded_clamps`]); none at first.
    clamp: Option<Clamp>,
}

impl Eq for OurPointwise {}

impl OurPointwise {
    /// This op with `clamp` applied to its output, if it has none yet.
    pub(super) fn with_clamp(&self, clamp: Clamp) -> Option<Self> {
        self.clamp.is_none().then(|| Self { clamp: Some(clamp), ..self.clone() })
    }

    fn output_shape(&self, batch: usize) -> Vec<usize> {
        let chw = [self.out_channels, self.hw[0], self.hw[1]];
        if self.batched {
            [&[batch][..], &chw].concat()
        } else {
            chw.to_vec()
        }
    }
}

impl Op for OurPointwise {
    fn name(&self) -> StaticName {
        "OurPointwise".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{} → {} channels, {:?}, {:?}", self.in_channels, self.out_channels, self.hw, self.clamp)])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for OurPointwise {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [x, kernel, bias] = &*inputs else { bail!("OurPointwise takes 3 inputs, got {}", inputs.len()) };
        let (k, m) = (self.in_channels, self.out_channels);
        let image = k * self.hw[0] * self.hw[1];
        let x_view = x.try_as_plain_ram()?;
        let x = x_view.as_slice::<f32>()?;
        let kernel_view = kernel.try_as_plain_ram()?;
        let kernel = kernel_view.as_slice::<f32>()?;
        let bias_view = bias.try_as_plain_ram()?;
        let bias = bias_view.as_slice::<f32>()?;
        ensure!(kernel.len() == m * k, "1×1 kernel of {} values, not {m}×{k}", kernel.len());
        let bias: Vec<f32> = match bias.len() {
            1 => vec![bias[0]; m],
            n if n == m => bias.to_vec(),
            n => bail!("1×1 convolution bias of {n} values for {m} channels"),
        };
        ensure!(
            !x.is_empty() && x.len().is_multiple_of(image),
            "1×1 convolution input of {} values is not a whole number of {k}×{}×{} images",
            x.len(),
            self.hw[0],
            self.hw[1]
        );
        let batch = x.len() / image;
        // SAFETY: f32 has no invalid bit patterns, and `pointwise` writes every output value.
        let mut y = unsafe { Tensor::uninitialized::<f32>(&self.output_shape(batch))? };
        {
            let mut y_view = y.try_as_plain_ram_mut()?;
            let y_slice = y_view.as_slice_mut::<f32>()?;
            let out_image = m * self.hw[0] * self.hw[1];
            for (xn, yn) in x.chunks_exact(image).zip(y_slice.chunks_exact_mut(out_image)) {
                pointwise(xn, kernel, &bias, self.clamp, yn);
            }
        }
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for OurPointwise {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 3, "OurPointwise takes 3 inputs");
        let mut shape: TVec<TDim> = self.output_shape(1).into_iter().map(TDim::from).collect();
        if self.batched {
            shape[0] = inputs[0].shape[0].clone();
        }
        Ok(tvec!(f32::fact(shape)))
    }

    as_op!();
}

/// The op for `conv` if it is one [`OurPointwise`] runs: f32, not quantised, NCHW or CHW with
/// a concrete input shape of at least [`MIN_POSITIONS`] positions, an OIHW kernel `[M, K, 1, 1]`
/// with `K ≤ MAX_CHANNELS`, a bias of M values or one, one group, stride and dilation 1, no
/// padding.
fn pointwise_op(conv: &Conv, input: &TypedFact, kernel: &TypedFact, bias: &TypedFact) -> Option<OurPointwise> {
    let spec = &conv.pool_spec;
    let batched = match spec.data_format {
        DataFormat::NCHW => true,
        DataFormat::CHW => false,
        _ => return None,
    };
    let plain_f32 = |f: &TypedFact| f.datum_type == f32::datum_type() && !f.is_exotic();
    if conv.q_params.is_some()
        || input.datum_type != f32::datum_type()
        || !plain_f32(kernel)
        || !plain_f32(bias)
        || conv.kernel_fmt != KernelFormat::OIHW
        || spec.kernel_shape.as_slice() != [1, 1]
        || conv.group != 1
        || spec.strides().iter().any(|&s| s != 1)
        || spec.dilations().iter().any(|&d| d != 1)
    {
        return None;
    }
    let shape = input.shape.as_concrete()?;
    if shape.len() != if batched { 4 } else { 3 } {
        return None;
    }
    let (k, hw) = (shape[shape.len() - 3], [shape[shape.len() - 2], shape[shape.len() - 1]]);
    let m = spec.output_channels;
    let padding = spec.computed_padding(&hw);
    if k == 0 || k > MAX_CHANNELS || k != spec.input_channels || hw[0] * hw[1] < MIN_POSITIONS {
        return None;
    }
    if padding.iter().any(|p| p.pad_before != 0 || p.pad_after != 0) {
        return None;
    }
    if kernel.shape.as_concrete()? != [m, k, 1, 1]
        || !(bias.shape.volume() == 1.into() || bias.shape.volume() == m.into())
    {
        return None;
    }
    Some(OurPointwise { in_channels: k, out_channels: m, hw, batched, clamp: None })
}

/// Replaces every convolution [`OurPointwise`] can run (see [`pointwise_op`]) in a typed
/// model not yet decluttered, in place: same node, same inputs and outputs, so the values the
/// relevance pass keeps are untouched. Returns how many were replaced.
pub fn use_our_pointwise(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes.len() {
        let Some(conv) = model.nodes[id].op_as::<Conv>() else { continue };
        let inputs = &model.nodes[id].inputs;
        if inputs.len() != 3 {
            continue;
        }
        let facts = [model.outlet_fact(inputs[0])?, model.outlet_fact(inputs[1])?, model.outlet_fact(inputs[2])?];
        let Some(op) = pointwise_op(conv, facts[0], facts[1], facts[2]) else { continue };
        // The replacement must type exactly as tract's Conv did.
        let ours = op.output_facts(&model.node_input_facts(id)?)?.remove(0);
        let theirs = &model.nodes[id].outputs[0].fact;
        if ours.shape != theirs.shape || ours.datum_type != theirs.datum_type {
            continue;
        }
        model.nodes[id].op = Box::new(op);
        replaced += 1;
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::{PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::math;

    /// One 1×1 convolution of `shape` (NCHW, or CHW) to `m` channels, then `max(0)` and, with
    /// `relu6`, `min(6)`; with `keep_z`, the convolution's output is also a model output.
    fn model(shape: &[usize], m: usize, scalar_bias: bool, relu6: bool, keep_z: bool) -> TypedModel {
        let k = shape[shape.len() - 3];
        let format = if shape.len() == 4 { DataFormat::NCHW } else { DataFormat::CHW };
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact(shape)).unwrap();
        let taps: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect();
        let w = model.add_const("w", tensor1(&taps).into_shape(&[m, k, 1, 1]).unwrap()).unwrap();
        let bias = if scalar_bias {
            tensor0(0.375f32)
        } else {
            tensor1(&(0..m).map(|i| i as f32 * 0.25 - 1.0).collect::<Vec<f32>>())
        };
        let b = model.add_const("b", bias).unwrap();
        let spec = PoolSpec::new(format, tvec!(1, 1), PaddingSpec::Valid, None, None, k, m);
        let conv = Conv { pool_spec: spec, kernel_fmt: KernelFormat::OIHW, group: 1, q_params: None };
        let z = model.wire_node("conv", conv, &[x, w, b]).unwrap()[0];
        let scalar = |v: f32| tensor0(v).broadcast_into_rank(shape.len()).unwrap();
        let zero = model.add_const("zero", scalar(0.0)).unwrap();
        let mut y = model.wire_node("max", math::max(), &[z, zero]).unwrap()[0];
        if relu6 {
            let six = model.add_const("six", scalar(6.0)).unwrap();
            y = model.wire_node("min", math::min(), &[y, six]).unwrap()[0];
        }
        let outputs = if keep_z { vec![z, y] } else { vec![y] };
        model.with_output_outlets(&outputs).unwrap()
    }

    fn run(plan: &Arc<TypedRunnableModel>, input: &Tensor) -> Vec<Vec<f32>> {
        plan.run(tvec!(input.clone().into_tvalue()))
            .unwrap()
            .iter()
            .map(|o| o.to_plain_array_view::<f32>().unwrap().iter().copied().collect())
            .collect()
    }

    /// Ours (swapped in, then optimised, then the clamp folded in where z is not kept) against
    /// tract's own plan of the same model, on batches, CHW, scalar biases, ReLU and ReLU6, and maps
    /// that are and are not whole blocks and spans.
    #[test]
    fn our_pointwise_matches_tracts() {
        let cases: [(&[usize], usize); 6] = [
            (&[1, 16, 28, 28], 96),
            (&[2, 24, 9, 15], 10),
            (&[1, 3, 17, 19], 5),
            (&[5, 16, 8], 7),
            (&[1, 200, 16, 9], 3),
            (&[1, 1, 300, 1], 4),
        ];
        for (shape, m) in cases {
            for (scalar_bias, relu6, keep_z) in [(false, true, false), (true, false, false), (false, true, true)] {
                let what = format!("{shape:?} → {m}, scalar bias {scalar_bias}, relu6 {relu6}, keep z {keep_z}");
                let model = model(shape, m, scalar_bias, relu6, keep_z);
                let theirs = model.clone().into_optimized().unwrap().into_runnable().unwrap();
                let mut ours = model;
                assert_eq!(use_our_pointwise(&mut ours).unwrap(), 1, "{what}: not replaced");
                ours.declutter().unwrap();
                ours.optimize().unwrap();
                assert_eq!(
                    super::super::folded_clamps::fold_clamps(&mut ours).unwrap(),
                    usize::from(!keep_z),
                    "{what}: clamps folded"
                );
                let ours = ours.into_runnable().unwrap();
                let n: usize = shape.iter().product();
                let values: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 3.0).collect();
                let input = tensor1(&values).into_shape(shape).unwrap();
                let (a, b) = (run(&ours, &input), run(&theirs, &input));
                assert_eq!(a.len(), b.len(), "{what}: outputs");
                for (x, y) in a.iter().zip(&b) {
                    assert_eq!(x.len(), y.len(), "{what}: output sizes");
                    let scale = y.iter().fold(1f32, |s, v| s.max(v.abs()));
                    for (i, (u, v)) in x.iter().zip(y).enumerate() {
                        assert!((u - v).abs() <= 1e-5 * scale, "{what}: output {i}: ours {u}, tract's {v}");
                    }
                }
            }
        }
    }

    /// Convolutions ours does not run stay tract's: too many input channels, a 3×3 kernel,
    /// stride 2, too few positions.
    #[test]
    fn other_convolutions_stay_tracts() {
        let conv = |k: usize, kernel: usize, stride: usize, hw: usize| {
            let mut model = TypedModel::default();
            let x = model.add_source("x", f32::fact([1, k, hw, hw])).unwrap();
            let w = model.add_const("w", Tensor::zero::<f32>(&[4, k, kernel, kernel]).unwrap()).unwrap();
            let b = model.add_const("b", Tensor::zero::<f32>(&[4]).unwrap()).unwrap();
            let spec = PoolSpec::new(
                DataFormat::NCHW,
                tvec!(kernel, kernel),
                PaddingSpec::Valid,
                None,
                Some(tvec!(stride, stride)),
                k,
                4,
            );
            let conv = Conv { pool_spec: spec, kernel_fmt: KernelFormat::OIHW, group: 1, q_params: None };
            let y = model.wire_node("conv", conv, &[x, w, b]).unwrap();
            model.with_output_outlets(&y).unwrap()
        };
        assert_eq!(use_our_pointwise(&mut conv(16, 1, 1, 12)).unwrap(), 1);
        assert_eq!(use_our_pointwise(&mut conv(MAX_CHANNELS, 1, 1, 12)).unwrap(), 1);
        for (k, kernel, stride, hw) in [(MAX_CHANNELS + 1, 1, 1, 12), (16, 3, 1, 12), (16, 1, 2, 12), (16, 1, 1, 11)] {
            assert_eq!(use_our_pointwise(&mut conv(k, kernel, stride, hw)).unwrap(), 0, "{k} {kernel} {stride} {hw}");
        }
    }
}
