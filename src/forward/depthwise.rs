//! Depthwise convolutions of tract's forward plan, run by our direct kernel
//! ([`crate::kernels::conv::depthwise_forward`]) through [`OurConv`], with the ReLU or ReLU6 that follows folded in
//! where nothing else reads the convolution's output ([`super::folded_clamps`]). RLRP.md has no section here: this is only how the
//! forward pass computes `Conv` (its value is the ONNX one, to rounding).
//!
//! Why: tract 0.23's `DepthWiseConv` vectorises only unit-stride rows of 32 or more outputs; the
//! rest (every stride-2 layer and the 14×14 and 7×7 maps of EfficientNet-Lite0) runs one scalar
//! tap at a time. Measured natively (1 thread, Lite0 int8): its 16 depthwise layers took 19–26 ms of
//! a 51–61 ms forward pass for 2 % of the flops; our kernel takes 0.34 ms where tract takes 1.7 ms
//! (1152 channels of 7×7, 5×5 taps). [`use_our_depthwise`] swaps the op in, after tract's
//! declutter and before its codegen, on every f32 NCHW (or CHW) 2-D convolution whose groups are
//! its channels; every other convolution stays tract's.
use super::our_conv::{swap_in, OurConv, OurKernel};
use crate::kernels::conv::Conv2dGeometry;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// The op for `conv` if it is one our depthwise kernel runs: f32, not quantised, NCHW or CHW with
/// a concrete input shape, two spatial axes, an OIHW kernel of one input channel per group, and
/// every channel its own group.
fn depthwise_op(conv: &Conv, [input, kernel, _bias]: [&TypedFact; 3]) -> Option<OurConv> {
    let spec = &conv.pool_spec;
    let batched = match spec.data_format {
        DataFormat::NCHW => true,
        DataFormat::CHW => false,
        _ => return None,
    };
    if conv.q_params.is_some()
        || input.datum_type != f32::datum_type()
        || kernel.datum_type != f32::datum_type()
        || kernel.is_exotic()
        || conv.kernel_fmt != KernelFormat::OIHW
        || spec.kernel_shape.len() != 2
        || conv.group < 2
        || conv.group != spec.input_channels
        || conv.group != spec.output_channels
    {
        return None;
    }
    let shape = input.shape.as_concrete()?;
    let hw = &shape[shape.len().checked_sub(2)?..];
    if shape.len() != if batched { 4 } else { 3 } || shape[shape.len() - 3] != conv.group {
        return None;
    }
    if kernel.shape.as_concrete()? != [conv.group, 1, spec.kernel_shape[0], spec.kernel_shape[1]] {
        return None;
    }
    let padding = spec.computed_padding(hw);
    let (strides, dilations) = (spec.strides(), spec.dilations());
    let pads = [padding[0].pad_before, padding[1].pad_before, padding[0].pad_after, padding[1].pad_after];
    let geometry = Conv2dGeometry::new(
        conv.group,
        hw[0],
        hw[1],
        conv.group,
        spec.kernel_shape[0],
        spec.kernel_shape[1],
        (strides[0], strides[1]),
        (dilations[0], dilations[1]),
        pads,
        conv.group,
    )
    .ok()?;
    // tract's own output shape must be ours (its padding rules are the ones we follow).
    let out = spec.output_shape(shape).ok()?;
    (out.hw_dims() == [geometry.out_h, geometry.out_w]).then(|| OurConv::new(OurKernel::Depthwise(geometry), batched))
}

/// Replaces every depthwise convolution our kernel can run (see [`depthwise_op`]) in a
/// decluttered model, in place ([`swap_in`]). Returns how many were replaced.
pub fn use_our_depthwise(model: &mut TypedModel) -> TractResult<usize> {
    swap_in(model, depthwise_op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::{PaddingSpec, PoolSpec};

    /// One depthwise convolution: input `shape` (NCHW, or CHW without the batch), a `kernel`
    /// (rows, columns), the bias one value per channel or a single scalar.
    struct Case {
        shape: Vec<usize>,
        kernel: (usize, usize),
        strides: (usize, usize),
        dilations: (usize, usize),
        padding: PaddingSpec,
        scalar_bias: bool,
    }

    /// The case as a one-convolution model, kernel and bias pseudo-random.
    fn depthwise_model(case: &Case) -> TypedModel {
        let Case { shape, kernel, strides, dilations, padding, scalar_bias } = case;
        let c = shape[shape.len() - 3];
        let format = if shape.len() == 4 { DataFormat::NCHW } else { DataFormat::CHW };
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact(shape)).unwrap();
        let taps: Vec<f32> = (0..c * kernel.0 * kernel.1).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect();
        let k = model.add_const("k", tensor1(&taps).into_shape(&[c, 1, kernel.0, kernel.1]).unwrap()).unwrap();
        let bias = if *scalar_bias {
            tensor0(0.375f32)
        } else {
            tensor1(&(0..c).map(|i| i as f32 * 0.25 - 1.0).collect::<Vec<f32>>())
        };
        let b = model.add_const("b", bias).unwrap();
        let spec = PoolSpec::new(
            format,
            tvec!(kernel.0, kernel.1),
            padding.clone(),
            Some(tvec!(dilations.0, dilations.1)),
            Some(tvec!(strides.0, strides.1)),
            c,
            c,
        );
        let conv = Conv { pool_spec: spec, kernel_fmt: KernelFormat::OIHW, group: c, q_params: None };
        let y = model.wire_node("conv", conv, &[x, k, b]).unwrap();
        model.with_output_outlets(&y).unwrap()
    }

    fn run(plan: &Arc<TypedRunnableModel>, input: &Tensor) -> Vec<f32> {
        let out = plan.run(tvec!(input.clone().into_tvalue())).unwrap();
        out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect()
    }

    /// Ours against tract's own plan of the same model, on strides, dilations, kernels, paddings
    /// (explicit, asymmetric, SAME), batches and maps small enough to be all border.
    #[test]
    fn our_depthwise_matches_tracts() {
        let explicit = |t: usize, l: usize, b: usize, r: usize| PaddingSpec::Explicit(tvec!(t, l), tvec!(b, r));
        let case = |shape: &[usize], kernel, strides, dilations, padding, scalar_bias| Case {
            shape: shape.to_vec(),
            kernel,
            strides,
            dilations,
            padding,
            scalar_bias,
        };
        let cases = [
            case(&[1, 8, 14, 14], (3, 3), (1, 1), (1, 1), explicit(1, 1, 1, 1), false),
            case(&[1, 6, 7, 7], (5, 5), (1, 1), (1, 1), explicit(2, 2, 2, 2), false),
            case(&[1, 5, 56, 40], (5, 5), (2, 2), (1, 1), explicit(1, 1, 2, 2), false),
            case(&[1, 4, 15, 17], (3, 3), (2, 2), (1, 1), explicit(0, 0, 1, 1), true),
            case(&[3, 4, 9, 11], (3, 3), (2, 1), (1, 1), PaddingSpec::SameUpper, false),
            case(&[2, 3, 12, 12], (3, 3), (1, 1), (2, 2), PaddingSpec::SameLower, false),
            case(&[1, 3, 13, 10], (1, 3), (3, 2), (1, 3), PaddingSpec::Valid, false),
            case(&[1, 2, 1, 1], (3, 3), (1, 1), (1, 1), explicit(1, 1, 1, 1), false),
            case(&[1, 64, 33, 3], (3, 1), (1, 1), (1, 1), explicit(1, 0, 1, 0), false),
            case(&[5, 9, 9], (3, 3), (2, 2), (1, 1), explicit(1, 1, 1, 1), false),
        ];
        for case in cases {
            let Case { shape, kernel, strides, dilations, padding, .. } = &case;
            let what = format!("{shape:?} kernel {kernel:?} strides {strides:?} dilations {dilations:?} {padding:?}");
            let model = depthwise_model(&case);
            let theirs = model.clone().into_optimized().unwrap().into_runnable().unwrap();
            let mut ours = model.into_decluttered().unwrap();
            assert_eq!(use_our_depthwise(&mut ours).unwrap(), 1, "{what}: not replaced");
            ours.optimize().unwrap();
            assert!(ours.nodes.iter().any(|n| n.op_is::<OurConv>()), "{what}: codegen dropped ours");
            let ours = ours.into_runnable().unwrap();
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 3.0).collect();
            let input = tensor1(&values).into_shape(shape).unwrap();
            let (a, b) = (run(&ours, &input), run(&theirs, &input));
            assert_eq!(a.len(), b.len(), "{what}: output sizes");
            let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert!((x - y).abs() <= 1e-5 * scale, "{what}: output {i}: ours {x}, tract's {y}");
            }
        }
    }

    /// Convolutions that are not depthwise (groups below the channels, a channel multiplier) stay
    /// tract's.
    #[test]
    fn other_convolutions_stay_tracts() {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, 4, 8, 8])).unwrap();
        let k = model.add_const("k", Tensor::zero::<f32>(&[8, 2, 3, 3]).unwrap()).unwrap();
        let b = model.add_const("b", Tensor::zero::<f32>(&[8]).unwrap()).unwrap();
        let spec = PoolSpec::new(DataFormat::NCHW, tvec!(3, 3), PaddingSpec::Valid, None, None, 4, 8);
        let conv = Conv { pool_spec: spec, kernel_fmt: KernelFormat::OIHW, group: 2, q_params: None };
        let y = model.wire_node("conv", conv, &[x, k, b]).unwrap();
        let mut model = model.with_output_outlets(&y).unwrap().into_decluttered().unwrap();
        assert_eq!(use_our_depthwise(&mut model).unwrap(), 0);
    }
}
