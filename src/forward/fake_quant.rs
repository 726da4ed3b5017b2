//! Static QDQ activations of tract's forward plan, run as one fused op. RLRP.md has no section
//! here: this is only how the forward pass computes `DequantizeLinear(QuantizeLinear(x))` (its
//! value is tract's, bit for bit, for every finite x).
//!
//! Why: a statically quantised model (QDQ) rounds every activation to 8 bits and back. tract 0.23
//! runs each pair as two scalar loops (`QuantizeLinearU8`, its rounding a bit trick per value, then
//! `DequantizeLinearF32`), with a u8 tensor between them; natively, on EfficientNet-Lite0 QDQ
//! (61 pairs, ReLU6 folded into the 8-bit range by tract), they took ~30 % of a forward pass.
//! [`use_our_fake_quant`] swaps each pair (possibly with reshapes between) for [`OurFakeQuant`]
//! after tract's declutter: one pass over f32 values that the compiler vectorises.
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::identity::Identity;
use tract_onnx::tract_core::ops::quant::{DequantizeLinearF32, QuantizeLinearI8, QuantizeLinearU8};

/// `y = (clamp(round_half_even(x · q_scale) + q_zero, low, high) − dq_zero) · dq_scale`, as tract
/// computes the pair (`q_scale` is the reciprocal of ONNX's scale, as tract keeps it).
#[derive(Debug, Clone, PartialEq)]
pub struct OurFakeQuant {
    q_scale: f32,
    q_zero: f32,
    low: f32,
    high: f32,
    dq_zero: f32,
    dq_scale: f32,
}

impl Eq for OurFakeQuant {}

/// 2²³: adding and subtracting it rounds an f32 below it in magnitude to an integer, half to even
/// (the default rounding mode), as tract's `round_ties_to_even` does.
const TO_INT: f32 = 8_388_608.0;

impl OurFakeQuant {
    #[inline]
    fn one(&self, x: f32) -> f32 {
        let v = x * self.q_scale;
        let t = TO_INT.copysign(v);
        // |v| ≥ 2²³ is an integer already; NaN becomes 0 as tract's cast to i32 makes it
        let rounded = if v.abs() < TO_INT {
            (v + t) - t
        } else if v.is_nan() {
            0.0
        } else {
            v
        };
        // integers of at most 2²⁴ in f32 are exact: the clamp and the subtraction are tract's i32 ones
        ((rounded + self.q_zero).max(self.low).min(self.high) - self.dq_zero) * self.dq_scale
    }

    pub fn run(&self, xs: &[f32], ys: &mut [f32]) {
        for (x, y) in xs.iter().zip(ys) {
            *y = self.one(*x);
        }
    }
}

impl Op for OurFakeQuant {
    fn name(&self) -> StaticName {
        "OurFakeQuant".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{self:?}")])
    }

    fn validation(&self) -> Validation {
        Validation::Accurate
    }

    op_as_typed_op!();
}

impl EvalOp for OurFakeQuant {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [x] = &*inputs else { bail!("OurFakeQuant takes 1 input, got {}", inputs.len()) };
        let view = x.try_as_plain_ram()?;
        let xs = view.as_slice::<f32>()?;
        let mut y = unsafe { Tensor::uninitialized::<f32>(x.shape())? };
        self.run(xs, y.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for OurFakeQuant {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 1 && inputs[0].datum_type == f32::datum_type(), "OurFakeQuant takes one f32 input");
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }

    as_op!();
}

/// The quantisation of node `id` if it is a `QuantizeLinear` tract runs on f32: (scale as tract
/// keeps it, zero point, lowest and highest code).
fn quantize_params(model: &TypedModel, id: usize) -> Option<(f32, i32, i32, i32)> {
    let op = model.nodes[id].op_as::<ElementWiseOp>()?;
    if let Some(q) = op.0.downcast_ref::<QuantizeLinearU8>() {
        Some((q.scale, q.zero_point as i32, u8::MIN as i32, u8::MAX as i32))
    } else {
        op.0.downcast_ref::<QuantizeLinearI8>().map(|q| (q.scale, q.zero_point as i32, i8::MIN as i32, i8::MAX as i32))
    }
}

/// The one reader of node `id`'s output, if it has exactly one and the output is not the model's.
fn only_reader(model: &TypedModel, id: usize) -> Option<usize> {
    let outlet = OutletId::new(id, 0);
    let node = &model.nodes[id];
    if node.outputs.len() != 1 || node.outputs[0].successors.len() != 1 || model.outputs.contains(&outlet) {
        return None;
    }
    Some(node.outputs[0].successors[0].node)
}

/// Replaces every `QuantizeLinear → (reshapes) → DequantizeLinear` chain of a decluttered model,
/// in place: the quantise node runs [`OurFakeQuant`], the reshapes carry f32, and the dequantise
/// node passes its input on, so every node keeps its name, inputs and output (and the values the
/// relevance pass keeps are untouched). Returns how many chains were replaced.
pub fn use_our_fake_quant(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes.len() {
        let Some((q_scale, q_zero, low, high)) = quantize_params(model, id) else { continue };
        let [input] = &*model.nodes[id].inputs else { continue };
        if model.outlet_fact(*input)?.datum_type != f32::datum_type() {
            continue;
        }
        let mut reshapes = Vec::new();
        let mut at = id;
        let dequantize = loop {
            let Some(next) = only_reader(model, at) else { break None };
            if model.nodes[next].op_is::<AxisOp>() && model.nodes[next].outputs.len() == 1 {
                reshapes.push(next);
                at = next;
            } else {
                break model.nodes[next].op_as::<DequantizeLinearF32>().map(|dq| (next, dq.clone()));
            }
        };
        let Some((dq_id, dq)) = dequantize else { continue };
        let op = OurFakeQuant {
            q_scale,
            q_zero: q_zero as f32,
            low: low as f32,
            high: high as f32,
            dq_zero: dq.zero_point as f32,
            dq_scale: dq.scale,
        };
        let fact = op.output_facts(&[model.outlet_fact(*input)?])?.remove(0);
        model.nodes[id].op = Box::new(op);
        model.nodes[id].outputs[0].fact = fact;
        for r in reshapes {
            model.nodes[r].outputs[0].fact.datum_type = f32::datum_type();
        }
        model.nodes[dq_id].op = Box::new(Identity);
        replaced += 1;
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::quant::{quantize_linear_f32_i8, quantize_linear_f32_u8};

    /// tract's own two steps, value by value.
    fn tract_pair(x: f32, q_scale: f32, q_zero: i32, signed: bool, dq: &DequantizeLinearF32) -> f32 {
        let q = if signed {
            quantize_linear_f32_i8(x, q_scale, q_zero) as i32
        } else {
            quantize_linear_f32_u8(x, q_scale, q_zero) as i32
        };
        (q - dq.zero_point) as f32 * dq.scale
    }

    #[test]
    fn equals_tracts_quantize_then_dequantize_bit_for_bit() {
        let mut rng = crate::eval::Rng::new(11);
        for (q_scale, q_zero, signed) in
            [(42.5f32, 0, false), (128.0, 127, false), (3.113_521_6, 131, false), (0.37, -5, true), (17.0, 0, true)]
        {
            let (low, high) = if signed { (-128, 127) } else { (0, 255) };
            let dq = DequantizeLinearF32 { scale: 1.0 / q_scale, zero_point: q_zero };
            let op = OurFakeQuant {
                q_scale,
                q_zero: q_zero as f32,
                low: low as f32,
                high: high as f32,
                dq_zero: q_zero as f32,
                dq_scale: dq.scale,
            };
            // ties (k + ½)/scale, their neighbours, the range's ends, zeros, large values
            let mut xs: Vec<f32> = (-300..300).map(|k| (k as f32 + 0.5) / q_scale).collect();
            xs.extend(
                xs.clone().iter().flat_map(|&x| [f32::from_bits(x.to_bits() + 1), f32::from_bits(x.to_bits() - 1)]),
            );
            xs.extend((0..20_000).map(|_| rng.uniform_in(-400.0, 400.0) as f32 / q_scale));
            xs.extend([0.0, -0.0, 1e-30, -1e-30, 1e7 / q_scale, -1e7 / q_scale, f32::NAN]);
            let mut ys = vec![0.0; xs.len()];
            op.run(&xs, &mut ys);
            for (&x, &y) in xs.iter().zip(&ys) {
                let want = tract_pair(x, q_scale, q_zero, signed, &dq);
                assert_eq!(
                    y.to_bits(),
                    want.to_bits(),
                    "x = {x:e} (scale {q_scale}, zero {q_zero}): {y} vs tract {want}"
                );
            }
            // beyond i32 tract's `as i32 + zero` overflows; ours saturates at the range's ends (ONNX's)
            let mut ends = [0.0; 4];
            op.run(&[1e20, -1e20, f32::INFINITY, f32::NEG_INFINITY], &mut ends);
            let end = |code: i32| (code - q_zero) as f32 * dq.scale;
            assert_eq!(ends, [end(high), end(low), end(high), end(low)]);
        }
    }

    #[test]
    fn the_static_qdq_lite0_plan_runs_it_with_the_same_logits() {
        let Ok(bytes) = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/models/efficientnet_lite0_int8_static_qdq.onnx"
        )) else {
            return;
        };
        let mut model = tract_onnx::onnx().model_for_read(&mut &bytes[..]).unwrap();
        model.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), [1, 3, 224, 224])).unwrap();
        let mut typed = model.into_typed().unwrap();
        typed.declutter().unwrap();
        let theirs = typed.clone().into_optimized().unwrap().into_runnable().unwrap();
        let mut ours = typed;
        // 61 pairs; the one before the classifier's mean stays tract's (it reads the codes
        // through a lookup table tract made of the ops between)
        assert_eq!(use_our_fake_quant(&mut ours).unwrap(), 60);
        let ours = ours.into_optimized().unwrap().into_runnable().unwrap();
        let mut rng = crate::eval::Rng::new(3);
        let x: Vec<f32> = (0..3 * 224 * 224).map(|_| rng.uniform_in(-2.0, 2.0) as f32).collect();
        let x = tract_onnx::prelude::Tensor::from_shape(&[1, 3, 224, 224], &x).unwrap();
        let run = |p: &Arc<TypedRunnableModel>| p.run(tvec!(x.clone().into())).unwrap().remove(0).into_tensor();
        let (a, b) = (run(&ours), run(&theirs));
        let values =
            |t: &tract_onnx::prelude::Tensor| t.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();
        assert_eq!(values(&a), values(&b));
    }
}
