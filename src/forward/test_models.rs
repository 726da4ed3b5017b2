//! Small tract models shared by the forward pass's tests, which compare our ops against tract's
//! own plan of the same model. RLRP.md has no section here: test scaffolding only.
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::math;

/// Wires `max(z, 0)` and, with `relu6`, `min(·, 6)` after `z` (of rank `rank`), and makes the model's
/// outputs the clamped value, preceded by `z` itself when `keep_z`.
pub fn clamped(mut model: TypedModel, z: OutletId, rank: usize, relu6: bool, keep_z: bool) -> TypedModel {
    let scalar = |v: f32| tensor0(v).broadcast_into_rank(rank).unwrap();
    let zero = model.add_const("zero", scalar(0.0)).unwrap();
    let mut y = model.wire_node("max", math::max(), &[z, zero]).unwrap()[0];
    if relu6 {
        let six = model.add_const("six", scalar(6.0)).unwrap();
        y = model.wire_node("min", math::min(), &[y, six]).unwrap()[0];
    }
    let outputs = if keep_z { vec![z, y] } else { vec![y] };
    model.with_output_outlets(&outputs).unwrap()
}

/// Every output of `plan` on `input`, as plain vectors.
pub fn run(plan: &Arc<TypedRunnableModel>, input: &Tensor) -> Vec<Vec<f32>> {
    plan.run(tvec!(input.clone().into_tvalue()))
        .unwrap()
        .iter()
        .map(|o| o.to_plain_array_view::<f32>().unwrap().iter().copied().collect())
        .collect()
}
