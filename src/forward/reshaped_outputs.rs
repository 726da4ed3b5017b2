//! Kept activations read after tract's reshape rather than before it. RLRP.md has no section here:
//! this is only which copy of a value the forward plan hands to the relevance pass (the same
//! values, in the same order).
//!
//! Why: tract feeds a 1×1 convolution by reshaping its input `[1, C, H, W]` into the matrix
//! `[1, C, H·W]` (`IntoShape`, free when it owns its input). Where that input is also one of the
//! plan's outputs — an activation the relevance pass reads, e.g. every convolution's input under
//! R-LRP — the reshape cannot take it and copies it whole (`Tensor::deep_clone`; ~1 ms of
//! EfficientNet-Lite0's forward pass in the page). [`keep_reshaped_outputs`] makes the reshape's
//! output the plan's output instead, wherever the reshape is the value's only reader and lays the
//! values out row-major (so the same values in the same order); [`super::Activations::get`] reads
//! every kept tensor with the graph's shape.
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::change_axes::IntoShape;

/// Replaces each output of an optimised model whose only reader is an `IntoShape` to row-major
/// strides by that reshape's output. Returns how many it replaced.
pub fn keep_reshaped_outputs(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for k in 0..model.outputs.len() {
        let outlet = model.outputs[k];
        let [reader] = model.nodes[outlet.node].outputs[outlet.slot].successors.as_slice() else { continue };
        let node = &model.nodes[reader.node];
        let Some(reshape) = node.op_as::<IntoShape>() else { continue };
        let by = OutletId::new(node.id, 0);
        if reshape.strides != Tensor::natural_strides(&reshape.dims) || model.outputs.contains(&by) {
            continue;
        }
        model.outputs[k] = by;
        replaced += 1;
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::math;
    use tract_onnx::tract_core::ops::nn::DataFormat;

    /// `x → relu → 1×1 convolution`, the ReLU's output kept: after codegen the convolution reads
    /// it through an `IntoShape` to a matrix, and the plan then keeps that reshape's output — the
    /// same values in the same order — so that the reshape no longer copies it.
    #[test]
    fn a_kept_value_is_read_after_the_reshape_that_reads_it() {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, 3, 4, 5])).unwrap();
        let zero = model.add_const("zero", tensor0(0f32).broadcast_into_rank(4).unwrap()).unwrap();
        let relu = model.wire_node("relu", math::max(), &[x, zero]).unwrap()[0];
        let w: Vec<f32> = (0..6).map(|i| i as f32 - 2.5).collect();
        let k = model.add_const("k", tensor1(&w).into_shape(&[2, 3, 1, 1]).unwrap()).unwrap();
        let b = model.add_const("b", tensor1(&[0.5f32, -0.25])).unwrap();
        let spec = PoolSpec::new(DataFormat::NCHW, tvec!(1, 1), PaddingSpec::Valid, None, None, 3, 2);
        let conv = Conv { pool_spec: spec, kernel_fmt: KernelFormat::OIHW, group: 1, q_params: None };
        let y = model.wire_node("conv", conv, &[relu, k, b]).unwrap()[0];
        let mut model = model.with_output_outlets(&[relu, y]).unwrap().into_decluttered().unwrap();
        model.optimize().unwrap();
        let before = model.outputs.clone();
        assert_eq!(keep_reshaped_outputs(&mut model).unwrap(), 1, "{model}");
        assert_ne!(model.outputs[0], before[0]);
        assert_eq!(model.outputs[1], before[1]);
        assert!(model.node(model.outputs[0].node).op_is::<IntoShape>());
        let plan = model.into_runnable().unwrap();
        let values: Vec<f32> = (0..60).map(|i| i as f32 / 7.0 - 4.0).collect();
        let input = tensor1(&values).into_shape(&[1, 3, 4, 5]).unwrap();
        let outputs = plan.run(tvec!(input.into_tvalue())).unwrap();
        let kept: Vec<f32> = outputs[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect();
        assert_eq!(outputs[0].len(), 60);
        assert_eq!(kept, values.iter().map(|v| v.max(0.0)).collect::<Vec<f32>>());
    }
}
