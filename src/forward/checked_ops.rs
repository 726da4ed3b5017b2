//! tract's ONNX parsers, each given to tract through [`onnx`], with the checks that tract 0.23's
//! shape rules make too late where a hostile attribute turns them into an endless loop (never a
//! panic the engine guard could catch). LayerNormalization: tract turns its `axis` into the bound
//! of a loop over the input's axes before checking it against the input's rank, so an axis of 2³¹
//! took 2.4 s to be refused, and 2⁶² or a negative axis past the rank (which wraps to nearly 2⁶⁴)
//! would run for ever (found by fuzzing). Here tract's own operator runs once the rank is known and
//! the axis is in range; anything else is refused by name. Not part of the method: RLRP.md says
//! nothing of untrusted input.
use crate::model::proto::Attrs;
use std::sync::OnceLock;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;

/// How tract builds an operator from an ONNX node.
type Builder = fn(&ParsingContext, &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// tract's own LayerNormalization parser, taken from its register.
static TRACT_LAYER_NORM: OnceLock<Builder> = OnceLock::new();

/// tract's ONNX framework, with the operators above checked.
pub fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    if let Some(&builder) = onnx.op_register.0.get("LayerNormalization") {
        TRACT_LAYER_NORM.get_or_init(|| builder);
        onnx.op_register.insert("LayerNormalization", layer_norm);
    }
    onnx
}

/// tract's LayerNormalization, run only on an input whose rank its `axis` fits.
fn layer_norm(ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let builder = TRACT_LAYER_NORM.get().context("tract's LayerNormalization parser")?;
    let (op, extra) = builder(ctx, node)?;
    let inner = op
        .as_op()
        .downcast_ref::<Box<dyn Expansion>>()
        .cloned()
        .context("tract's LayerNormalization is not an expansion: cannot check its axis")?;
    let axis = Attrs::of(node).int("axis").unwrap_or(-1);
    Ok((expand(AxisInRange { inner, axis }), extra))
}

/// An operator whose `axis` attribute must index its first input's axes (`-rank..rank`).
#[derive(Debug, Clone)]
struct AxisInRange {
    inner: Box<dyn Expansion>,
    axis: i64,
}

impl AxisInRange {
    fn check(&self, rank: i64) -> TractResult<()> {
        if !(-rank..rank).contains(&self.axis) {
            bail!("{}'s axis {} is out of range for an input of rank {rank}", Expansion::name(&*self.inner), self.axis);
        }
        Ok(())
    }
}

impl Expansion for AxisInRange {
    fn name(&self) -> StaticName {
        Expansion::name(&*self.inner)
    }

    fn validation(&self) -> Validation {
        Expansion::validation(&*self.inner)
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Expansion::info(&*self.inner)
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Expansion::nboutputs(&*self.inner)
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let first = inputs.first().context("no input")?;
        self.check(model.outlet_fact(*first)?.rank() as i64)?;
        Expansion::wire(&*self.inner, prefix, model, inputs)
    }

    fn wire_with_inference_model_and_node(
        &self,
        prefix: &str,
        model: &InferenceModel,
        node: &InferenceNode,
        typed_model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let first = inputs.first().context("no input")?;
        self.check(typed_model.outlet_fact(*first)?.rank() as i64)?;
        Expansion::wire_with_inference_model_and_node(&*self.inner, prefix, model, node, typed_model, inputs)
    }

    /// tract's rules, given once the input's rank is known and the axis fits it.
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        let first = inputs.first().ok_or_else(|| format_err!("{} has no input", Expansion::name(&*self.inner)))?;
        s.given(&first.rank, move |s, rank| {
            self.check(rank)?;
            Expansion::rules(&*self.inner, s, inputs, outputs)
        })
    }

    fn runs_out_of_plan(&self) -> bool {
        Expansion::runs_out_of_plan(&*self.inner)
    }
}
