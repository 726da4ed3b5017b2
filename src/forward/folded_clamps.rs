//! Clamps of tract's forward plan folded into our convolution before them. RLRP.md has no section
//! here: this is only how the forward pass computes them (the same values, bit for bit).
//!
//! Why: after each of our convolutions ([`OurConv`]: 1×1 and depthwise) tract runs the ReLU6
//! as an op of its own, one more pass over the layer's output. Where that output is read by the
//! clamp alone (not kept for the relevance pass: R-LRP's plan, the logits-only plans), the kernel
//! applies the clamp while the values are in registers or in cache instead. EfficientNet-Lite0's
//! 16 depthwise layers' clamps took ~0.7 ms of its forward pass in the page.
use super::our_conv::OurConv;
use super::out_of_place::{clamp_of, Bound};
use crate::kernels::elementwise::Clamp;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::identity::Identity;

/// The clamp a chain of steps is, if our kernels apply it with the same values (NaN included):
/// `max(lo)` alone (ReLU) or `max(lo)` then `min(hi)` (ReLU6, `Clip`).
fn as_clamp(steps: &[Bound]) -> Option<Clamp> {
    match *steps {
        [Bound::Max(lo)] => Some(Clamp { lo, hi: f32::INFINITY }),
        [Bound::Max(lo), Bound::Min(hi)] if lo <= hi => Some(Clamp { lo, hi }),
        _ => None,
    }
}

/// `op` with `clamp` folded in, if it is one of our convolutions with none yet.
fn with_clamp(op: &dyn TypedOp, clamp: Clamp) -> Option<Box<dyn TypedOp>> {
    op.downcast_ref::<OurConv>()?.with_clamp(clamp).map(|op| Box::new(op) as _)
}

/// Folds into each of our convolutions of an optimised model the clamp that alone reads its
/// output (not a plan output: a kept value must stay as it is); the clamp's node becomes an
/// identity, which passes the value on with no copy (rewiring its readers instead takes a model
/// patch, whose code was 10 kB of the page's gzipped wasm). Returns how many it folded.
pub fn fold_clamps(model: &mut TypedModel) -> TractResult<usize> {
    let mut folded = 0;
    for id in 0..model.nodes.len() {
        let z = OutletId::new(id, 0);
        let readers = &model.nodes[id].outputs.first().map_or(&[][..], |o| &o.successors[..]);
        let [reader] = readers else { continue };
        if model.nodes[id].outputs.len() != 1 || reader.slot != 0 || model.outputs.contains(&z) {
            continue;
        }
        let next = reader.node;
        let Some(clamp) = clamp_of(model, next)?.and_then(|c| as_clamp(&c.steps)) else { continue };
        let Some(op) = with_clamp(model.nodes[id].op.as_ref(), clamp) else { continue };
        model.nodes[id].op = op;
        // The clamp's node passes z on: its bounds are no longer its inputs.
        for bound in model.nodes[next].inputs.split_off(1) {
            model.nodes[bound.node].outputs[bound.slot].successors.retain(|s| s.node != next);
        }
        model.nodes[next].op = Box::new(Identity);
        folded += 1;
    }
    Ok(folded)
}

#[cfg(test)]
mod tests {
    use super::super::test_models::{clamped, run};
    use super::*;
    use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::nn::DataFormat;

    /// A depthwise 3×3 convolution (stride 2) of `[1, 6, 15, 17]`, then ReLU6 or ReLU; with
    /// `keep_z` its output is also a model output.
    fn depthwise_then_clamp(relu6: bool, keep_z: bool) -> TypedModel {
        let (c, shape) = (6, [1, 6, 15, 17]);
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact(shape)).unwrap();
        let taps: Vec<f32> = (0..c * 9).map(|i| ((i * 37 % 23) as f32 - 11.0) / 5.0).collect();
        let k = model.add_const("k", tensor1(&taps).into_shape(&[c, 1, 3, 3]).unwrap()).unwrap();
        let b = model.add_const("b", tensor1(&(0..c).map(|i| i as f32 - 2.0).collect::<Vec<f32>>())).unwrap();
        let padding = PaddingSpec::Explicit(tvec!(1, 1), tvec!(1, 1));
        let spec = PoolSpec::new(DataFormat::NCHW, tvec!(3, 3), padding, None, Some(tvec!(2, 2)), c, c);
        let conv = Conv { pool_spec: spec, kernel_fmt: KernelFormat::OIHW, group: c, q_params: None };
        let z = model.wire_node("conv", conv, &[x, k, b]).unwrap()[0];
        clamped(model, z, 4, relu6, keep_z)
    }

    /// A depthwise convolution's clamp folded in (where its output is not kept) gives tract's
    /// values; a kept output keeps its clamp apart.
    #[test]
    fn depthwise_clamps_fold_where_nothing_else_reads() {
        for (relu6, keep_z) in [(true, false), (false, false), (true, true)] {
            let model = depthwise_then_clamp(relu6, keep_z);
            let theirs = model.clone().into_optimized().unwrap().into_runnable().unwrap();
            let mut ours = model.into_decluttered().unwrap();
            assert_eq!(super::super::depthwise::use_our_depthwise(&mut ours).unwrap(), 1);
            ours.optimize().unwrap();
            assert_eq!(fold_clamps(&mut ours).unwrap(), usize::from(!keep_z), "relu6 {relu6} keep z {keep_z}");
            let ours = ours.into_runnable().unwrap();
            let values: Vec<f32> = (0..6 * 15 * 17).map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 4.0).collect();
            let input = tensor1(&values).into_shape(&[1, 6, 15, 17]).unwrap();
            let (a, b) = (run(&ours, &input), run(&theirs, &input));
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x.len(), y.len());
                for (i, (u, v)) in x.iter().zip(y).enumerate() {
                    assert!((u - v).abs() <= 1e-5 * (1.0 + v.abs()), "relu6 {relu6} keep z {keep_z}: {i}: {u} vs {v}");
                }
            }
            if relu6 && !keep_z {
                assert!(a[0].iter().all(|v| (0.0..=6.0).contains(v)) && a[0].contains(&6.0) && a[0].contains(&0.0));
            }
        }
    }

    #[test]
    fn only_clamps_with_the_same_values_fold() {
        assert_eq!(as_clamp(&[Bound::Max(0.0), Bound::Min(6.0)]), Some(Clamp { lo: 0.0, hi: 6.0 }));
        assert_eq!(as_clamp(&[Bound::Max(0.0)]), Some(Clamp { lo: 0.0, hi: f32::INFINITY }));
        for steps in
            [&[Bound::Min(6.0)][..], &[Bound::Min(6.0), Bound::Max(0.0)], &[Bound::Max(6.0), Bound::Min(0.0)], &[]]
        {
            assert_eq!(as_clamp(steps), None, "{steps:?}");
        }
    }
}
