//! Clamps (ReLU, ReLU6, `Clip`) of tract's forward plan that read a kept activation, computed out
//! of place. RLRP.md has no section here: this is only how the forward pass computes them (the
//! same values, bit for bit).
//!
//! Why: tract's element-wise ops (`OptBinByScalar`, and `OptBinChain`, which fuses a run of them)
//! write into their input. Where that input is also one of the plan's outputs — the convolution
//! output `z` that the relevance pass reads, right before its activation — tract first copies it
//! whole (`Tensor::deep_clone`), then clamps the copy in place: two passes over the tensor where one
//! would do. In the page that copy took ~3 ms of EfficientNet-Lite0's ~50 ms explaining pass.
//! [`use_out_of_place_clamps`] swaps in [`OutOfPlaceClamp`], which reads the input once and writes a
//! new tensor, wherever a chain of `min`/`max` by one constant reads an f32 value that something
//! else also reads; every other element-wise op stays tract's.
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::{OptBinByScalar, OptBinChain};
use tract_onnx::tract_core::tract_linalg::BinOp;

/// One step of a clamp: `v ← min(v, c)` or `v ← max(v, c)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// `min(v, c)`: an upper bound.
    Min(f32),
    /// `max(v, c)`: a lower bound.
    Max(f32),
}

impl Bound {
    /// `v` after this step, as tract's `Min`/`Max` give it for every value but NaN (a NaN `v`
    /// becomes `c` here; a NaN never reaches a kept activation unnoticed: the relevance pass counts
    /// non-finite values and refuses them).
    #[inline(always)]
    fn apply(self, v: f32) -> f32 {
        match self {
            Bound::Min(c) => {
                if v < c {
                    v
                } else {
                    c
                }
            }
            Bound::Max(c) => {
                if v > c {
                    v
                } else {
                    c
                }
            }
        }
    }
}

/// `min`/`max` steps by constants applied in order to every value of one f32 input, into a new
/// tensor. Its inputs are tract's: the value, then one constant per step (read from the op, not
/// from them).
#[derive(Debug, Clone, PartialEq)]
pub struct OutOfPlaceClamp {
    pub steps: Vec<Bound>,
}

impl Eq for OutOfPlaceClamp {}

/// Values per block: each step runs over a block while it is in cache, in loops the compiler
/// vectorises.
const BLOCK: usize = 1024;

impl OutOfPlaceClamp {
    /// `out[i]` = `x[i]` through every step.
    pub fn run(&self, x: &[f32], out: &mut [f32]) {
        assert_eq!(x.len(), out.len(), "OutOfPlaceClamp: input and output lengths");
        let Some((&first, rest)) = self.steps.split_first() else {
            out.copy_from_slice(x);
            return;
        };
        for (xb, ob) in x.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
            for (o, &v) in ob.iter_mut().zip(xb) {
                *o = first.apply(v);
            }
            for &step in rest {
                for o in ob.iter_mut() {
                    *o = step.apply(*o);
                }
            }
        }
    }
}

impl Op for OutOfPlaceClamp {
    fn name(&self) -> StaticName {
        "OutOfPlaceClamp".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?}", self.steps)])
    }

    op_as_typed_op!();
}

impl EvalOp for OutOfPlaceClamp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(inputs.len() == self.steps.len() + 1, "OutOfPlaceClamp takes {} inputs", self.steps.len() + 1);
        let x_view = inputs[0].try_as_plain_ram()?;
        let x = x_view.as_slice::<f32>()?;
        // SAFETY: f32 has no invalid bit patterns, and `run` writes every value before any is read.
        let mut out = unsafe { Tensor::uninitialized::<f32>(inputs[0].shape())? };
        self.run(x, out.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for OutOfPlaceClamp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == self.steps.len() + 1, "OutOfPlaceClamp takes {} inputs", self.steps.len() + 1);
        ensure!(inputs[0].datum_type == f32::datum_type(), "OutOfPlaceClamp reads f32");
        Ok(tvec!(inputs[0].without_value()))
    }

    as_op!();
}

/// The clamp that node `id` computes, if it is a chain of `min`/`max` by single f32 constants on
/// an f32 input (tract's `OptBinByScalar` or `OptBinChain`).
pub(super) fn clamp_of(model: &TypedModel, id: usize) -> TractResult<Option<OutOfPlaceClamp>> {
    let node = &model.nodes[id];
    let ops: Vec<BinOp> = if let Some(op) = node.op_as::<OptBinByScalar>() {
        vec![op.linalg_op]
    } else if let Some(chain) = node.op_as::<OptBinChain>() {
        chain.steps.iter().map(|s| s.linalg_op).collect()
    } else {
        return Ok(None);
    };
    if node.inputs.len() != ops.len() + 1 || model.outlet_fact(node.inputs[0])?.datum_type != f32::datum_type() {
        return Ok(None);
    }
    let mut steps = Vec::with_capacity(ops.len());
    for (op, &input) in ops.iter().zip(&node.inputs[1..]) {
        let fact = model.outlet_fact(input)?;
        let Some(c) = fact.konst.as_ref() else { return Ok(None) };
        if c.datum_type() != f32::datum_type() || c.len() != 1 {
            return Ok(None);
        }
        let c = c.cast_to_scalar::<f32>()?;
        steps.push(match op {
            BinOp::Min => Bound::Min(c),
            BinOp::Max => Bound::Max(c),
            _ => return Ok(None),
        });
    }
    Ok(Some(OutOfPlaceClamp { steps }))
}

/// Replaces, in an optimised model, every clamp whose input something else also reads (another
/// node, or the plan's outputs) by an [`OutOfPlaceClamp`]. Returns how many it replaced.
pub fn use_out_of_place_clamps(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes.len() {
        let Some(input) = model.nodes[id].inputs.first().copied() else { continue };
        let readers = model.nodes[input.node].outputs[input.slot].successors.len();
        let shared = readers > 1 || model.outputs.contains(&input);
        if !shared {
            continue;
        }
        if let Some(op) = clamp_of(model, id)? {
            model.nodes[id].op = Box::new(op);
            replaced += 1;
        }
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::super::test_models::run;
    use super::*;
    use tract_onnx::tract_core::ops::math;

    /// `x → clip(lo, hi)`, with `x` also an output of the model when `keep_input`; `relu` gives
    /// `max(x, 0)` alone.
    fn clamp_model(shape: &[usize], relu: bool, keep_input: bool) -> TypedModel {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact(shape)).unwrap();
        let scalar = |v: f32| tensor0(v).broadcast_into_rank(shape.len()).unwrap();
        let zero = model.add_const("zero", scalar(0.0)).unwrap();
        let mut y = model.wire_node("max", math::max(), &[x, zero]).unwrap();
        if !relu {
            let six = model.add_const("six", scalar(6.0)).unwrap();
            y = model.wire_node("min", math::min(), &[y[0], six]).unwrap();
        }
        let outputs = if keep_input { vec![x, y[0]] } else { vec![y[0]] };
        model.with_output_outlets(&outputs).unwrap()
    }

    /// Ours against tract's own plan, bit for bit, on ReLU and ReLU6 of a kept input (sizes that
    /// are and are not whole blocks, values on both sides of both bounds and on them).
    #[test]
    fn out_of_place_clamps_match_tracts() {
        for shape in [vec![1, 3, 5, 7], vec![1, 16, 112, 112], vec![2, 1100]] {
            for relu in [true, false] {
                let model = clamp_model(&shape, relu, true);
                let theirs = model.clone().into_optimized().unwrap();
                let theirs = theirs.into_runnable().unwrap();
                let mut ours = model.into_optimized().unwrap();
                assert_eq!(use_out_of_place_clamps(&mut ours).unwrap(), 1, "{shape:?} relu {relu}: not replaced");
                let ours = ours.into_runnable().unwrap();
                let n: usize = shape.iter().product();
                let mut values: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1000) as f32 / 50.0) - 8.0).collect();
                values[1] = 0.0;
                values[2] = 6.0;
                let input = tensor1(&values).into_shape(&shape).unwrap();
                let (a, b) = (run(&ours, &input), run(&theirs, &input));
                assert_eq!(a.len(), 2);
                for (x, y) in a.iter().zip(&b) {
                    assert_eq!(x.len(), y.len());
                    for (i, (u, v)) in x.iter().zip(y).enumerate() {
                        assert_eq!(u.to_bits(), v.to_bits(), "{shape:?} relu {relu}: value {i}: ours {u}, tract's {v}");
                    }
                }
                assert_eq!(a[0], values, "the kept input changed");
            }
        }
    }

    /// A clamp that alone reads its input stays tract's (in place, no copy to save).
    #[test]
    fn unshared_clamps_stay_tracts() {
        let mut model = clamp_model(&[1, 4, 8, 8], false, false).into_optimized().unwrap();
        assert_eq!(use_out_of_place_clamps(&mut model).unwrap(), 0);
    }

    #[test]
    fn steps_apply_in_order() {
        let clamp = OutOfPlaceClamp { steps: vec![Bound::Max(0.0), Bound::Min(6.0), Bound::Max(1.0)] };
        let mut out = [0f32; 5];
        clamp.run(&[-3.0, 0.5, 2.0, 6.0, 9.0], &mut out);
        assert_eq!(out, [1.0, 1.0, 2.0, 6.0, 6.0]);
        let mut out = [0f32; 2];
        OutOfPlaceClamp { steps: vec![] }.run(&[-1.0, 1.0], &mut out);
        assert_eq!(out, [-1.0, 1.0]);
    }
}
