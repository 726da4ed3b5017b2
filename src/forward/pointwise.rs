//! 1×1 convolutions of tract's forward plan in the browser, run by our kernel
//! ([`crate::kernels::pointwise`]) through [`OurConv`], with the ReLU or ReLU6 that follows folded in where nothing
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
//! 14×14 layers 5–10 % under tract's (those figures with 4 × 16 blocks; 4 × 12 ones took 10 % off,
//! see the kernel). On 7×7 maps too, once our kernel packed its weights once for every pass (a
//! V8 profile of the page's pixel flipping: tract's 8 × 8 tiles took 41 % of the passes, for the
//! 7×7 layers' ~30 % of the multiply-adds). [`use_our_pointwise`] swaps the op in before tract's
//! declutter (which would make it an `EinSum`), on every f32 NCHW (or CHW) 1×1, stride-1, unpadded,
//! ungrouped convolution of at least [`MIN_POSITIONS`] positions and at most [`MAX_CHANNELS`]
//! input channels; [`super::folded_clamps`] then folds the clamp after it into it.
use super::our_conv::{swap_in, OurConv, OurKernel};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// Input channels up to which our kernel runs a 1×1 convolution: its inputs for a span of 48
/// positions or more (`kernels::pointwise`'s spans narrow as the depth grows, to stay in L2; a
/// 7×7 map of 1152 channels is one span) then stay in cache while every block of output channels
/// reads them.
pub const MAX_CHANNELS: usize = 1280;

/// Positions (H·W) below which tract keeps the convolution: our blocks are 12 positions wide, the
/// last one shifted back over its predecessor and computing only its last 4 (at 196 and at 49
/// positions, 2 % and 6 % of the work is done twice). tract's 8 × 8 tiles spill in wasm on x86-64.
pub const MIN_POSITIONS: usize = 48;

/// The op for `conv` if it is one our 1×1 kernel runs: f32, not quantised, NCHW or CHW with
/// a concrete input shape of at least [`MIN_POSITIONS`] positions, an OIHW kernel `[M, K, 1, 1]`
/// with `K ≤ MAX_CHANNELS`, a bias of M values or one, one group, stride and dilation 1, no
/// padding.
fn pointwise_op(conv: &Conv, [input, kernel, bias]: [&TypedFact; 3]) -> Option<OurConv> {
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
    Some(OurConv::new(OurKernel::Pointwise { in_channels: k, out_channels: m, hw }, batched))
}

/// Replaces every convolution our 1×1 kernel can run (see [`pointwise_op`]) in a typed model not
/// yet decluttered, in place ([`swap_in`]). Returns how many were replaced.
pub fn use_our_pointwise(model: &mut TypedModel) -> TractResult<usize> {
    swap_in(model, pointwise_op)
}

#[cfg(test)]
mod tests {
    use super::super::test_models::{clamped, run};
    use super::*;
    use tract_onnx::tract_core::ops::cnn::{PaddingSpec, PoolSpec};

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
        clamped(model, z, shape.len(), relu6, keep_z)
    }

    /// Ours (swapped in, then optimised, then the clamp folded in where z is not kept) against
    /// tract's own plan of the same model, on batches, CHW, scalar biases, ReLU and ReLU6, and maps
    /// that are and are not whole blocks and spans.
    #[test]
    fn our_pointwise_matches_tracts() {
        let cases: [(&[usize], usize); 7] = [
            (&[1, 16, 28, 28], 96),
            (&[1, 1152, 7, 7], 20),
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
                // the weights laid out for the kernel, as every plan of ours has them
                assert_eq!(super::super::our_conv::pack_constant_kernels(&mut ours).unwrap(), 1, "{what}: packed");
                let ours = ours.into_runnable().unwrap();
                let n: usize = shape.iter().product();
                for pass in 0..2 {
                    let values: Vec<f32> =
                        (0..n).map(|i| (((i + pass) * 7919 % 1000) as f32 / 500.0 - 1.0) * 3.0).collect();
                    let input = tensor1(&values).into_shape(shape).unwrap();
                    let (a, b) = (run(&ours, &input), run(&theirs, &input));
                    assert_eq!(a.len(), b.len(), "{what}: outputs");
                    for (x, y) in a.iter().zip(&b) {
                        assert_eq!(x.len(), y.len(), "{what}: output sizes");
                        let scale = y.iter().fold(1f32, |s, v| s.max(v.abs()));
                        for (i, (u, v)) in x.iter().zip(y).enumerate() {
                            assert!(
                                (u - v).abs() <= 1e-5 * scale,
                                "{what}: pass {pass}, output {i}: ours {u}, tract's {v}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Weights that something else reads too (here: a model output) keep their layout, and the
    /// op reads them unpacked: the output is tract's weights, the convolution tract's values.
    #[test]
    fn shared_weights_stay_as_they_are() {
        let shape = [1, 24, 9, 15];
        let model = model(&shape, 10, false, true, false);
        let theirs = model.clone().into_optimized().unwrap().into_runnable().unwrap();
        let mut ours = model;
        let conv = ours.node_by_name("conv").unwrap().id;
        let weights = ours.nodes[conv].inputs[1];
        let konst = ours.outlet_fact(weights).unwrap().konst.clone().expect("constant weights");
        let w = konst.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();
        ours.outputs.push(weights);
        assert_eq!(use_our_pointwise(&mut ours).unwrap(), 1);
        ours.declutter().unwrap();
        ours.optimize().unwrap();
        assert_eq!(super::super::our_conv::pack_constant_kernels(&mut ours).unwrap(), 0);
        let ours = ours.into_runnable().unwrap();
        let values: Vec<f32> = (0..shape.iter().product::<usize>()).map(|i| (i % 13) as f32 * 0.25 - 1.5).collect();
        let input = tensor1(&values).into_shape(&shape).unwrap();
        let (a, b) = (run(&ours, &input), run(&theirs, &input));
        assert_eq!(a.last().unwrap(), &w, "the weights as the model has them");
        for (u, v) in a[0].iter().zip(&b[0]) {
            assert!((u - v).abs() <= 1e-5 * (1.0 + v.abs()), "ours {u}, tract's {v}");
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
        for (k, kernel, stride, hw) in [(MAX_CHANNELS + 1, 1, 1, 12), (16, 3, 1, 12), (16, 1, 2, 12), (16, 1, 1, 6)] {
            assert_eq!(use_our_pointwise(&mut conv(k, kernel, stride, hw)).unwrap(), 0, "{k} {kernel} {stride} {hw}");
        }
    }
}
