//! The forward pass, run by tract. The plan's outputs are the logits plus every activation the
//! relevance pass reads (each op says which: [`crate::model::graph::Op::reads_activations`]), so one
//! run yields all of them: for every method, or for R-LRP alone ([`Keep`]), whose plan keeps no
//! activation's input and so lets tract fuse Conv + Clip. Depthwise convolutions run on our kernel
//! ([`depthwise`]); in the browser, so do 1×1 convolutions on maps of 48 positions or more, their
//! weights packed once per plan ([`pointwise`]), and tract's wide 4×16 matrix kernel runs where
//! its tiles fill ([`kernel_choice`]).
mod depthwise;
mod fake_quant;
mod folded_clamps;
pub mod incremental;
pub mod kernel_choice;
mod our_conv;
mod out_of_place;
mod pointwise;
mod reshaped_outputs;
#[cfg(test)]
mod test_models;

use crate::budget;
use crate::error::{Error, Result};
use crate::method::{Family, Method};
use crate::model::graph::{Graph, ValueId};
use crate::tensor::{ndarray, Tensor, TensorView};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

thread_local! {
    /// How many [`guarded`] calls this thread is inside.
    static GUARDED: Cell<usize> = const { Cell::new(0) };
    /// The last panic caught inside one, as [`crate::error::panic_text`] says it.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Panics caught inside [`guarded`] on this thread so far.
    static CAUGHT: Cell<usize> = const { Cell::new(0) };
}

/// Panics that [`guarded`] has caught on this thread (tests and fuzzing: in the browser's worker
/// each would be an abort).
pub fn caught_panics() -> usize {
    CAUGHT.with(Cell::get)
}

/// Installs (once) a panic hook that keeps a panic inside [`guarded`] quiet — it becomes the
/// error's message instead of a "thread panicked" line — and passes every other panic to the hook
/// it replaced (Rust's, a test harness's, libFuzzer's abort: a panic outside the guard is still a
/// crash). Where panics abort (the wasm worker), the replaced hook always runs: it reports the crash.
/// With `$RLRP_FUZZ_PANICS` set, the place of each caught panic is appended to that file.
fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !cfg!(panic = "unwind") || GUARDED.with(Cell::get) == 0 {
                return previous(info);
            }
            let text = crate::error::panic_text(info);
            if let Some(path) = std::env::var_os("RLRP_FUZZ_PANICS") {
                if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                    let _ = std::io::Write::write_all(&mut f, format!("{text}\n").as_bytes());
                }
            }
            CAUGHT.with(|c| c.set(c.get() + 1));
            LAST_PANIC.with(|l| *l.borrow_mut() = Some(text));
        }));
    });
}

/// Runs a closure that calls into tract, turning both errors and panics into [`Error::Engine`].
fn guarded<T>(what: &str, f: impl FnOnce() -> TractResult<T>) -> Result<T> {
    install_quiet_hook();
    GUARDED.with(|g| g.set(g.get() + 1));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::Engine(format!("{what}: {}", error_chain(&e)))),
        Err(_) => {
            let panic = LAST_PANIC.with(|l| l.borrow_mut().take()).unwrap_or_else(|| "panicked".into());
            Err(Error::Engine(format!("{what}: the engine failed on this model ({panic})")))
        }
    }
}

fn error_chain(e: &TractError) -> String {
    e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")
}

/// tract's model with every traced value selected as an output, typed (shapes known).
pub struct TypedWithValues {
    model: TypedModel,
    names: Vec<String>,
}

impl TypedWithValues {
    /// Parses the proto with tract, fixes the input shape, and makes every named value an output so
    /// that its shape is inferred (and later its value can be kept).
    pub fn new(proto: &ModelProto, input_shape: &[usize], names: &[String]) -> Result<Self> {
        let mut model = guarded("loading the model", || tract_onnx::onnx().model_for_proto_model(proto))?;
        guarded("setting the input shape", || {
            model.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), input_shape))
        })?;
        let mut outlets = Vec::new();
        let mut kept = Vec::new();
        for name in names {
            if let Some(o) = model.find_outlet_label(name) {
                outlets.push(o);
                kept.push(name.clone());
            }
        }
        guarded("selecting outputs", || model.select_output_outlets(&outlets))?;
        let model = guarded("analysing the model (types and shapes)", || model.into_typed())?;
        Ok(TypedWithValues { model, names: kept })
    }

    /// Concrete shape of every value that tract knows.
    pub fn shapes(&self) -> Result<HashMap<String, Vec<usize>>> {
        let mut out = HashMap::new();
        for (i, name) in self.names.iter().enumerate() {
            let fact = guarded("reading shapes", || self.model.output_fact(i).cloned())?;
            let shape = fact
                .shape
                .as_concrete()
                .ok_or_else(|| Error::Engine(format!("the shape of '{name}' is not fixed: {:?}", fact.shape)))?
                .to_vec();
            out.insert(name.clone(), shape);
        }
        Ok(out)
    }

    /// The value of a tensor that tract found constant (shape arithmetic), if it did.
    pub fn constant(&self, name: &str) -> Result<Option<crate::model::proto::Constant>> {
        let Some(i) = self.names.iter().position(|n| n == name) else { return Ok(None) };
        let fact = guarded("reading a constant", || self.model.output_fact(i).cloned())?;
        let Some(k) = fact.konst else { return Ok(None) };
        guarded("reading a constant", || {
            let is_int = k.datum_type().is_integer();
            let ints = if is_int {
                Some(k.cast_to::<i64>()?.to_plain_array_view::<i64>()?.iter().copied().collect())
            } else {
                None
            };
            let values = k.cast_to::<f32>()?.to_plain_array_view::<f32>()?.to_owned();
            Ok(Some(crate::model::proto::Constant { values, ints, data_type: if is_int { 7 } else { 1 } }))
        })
    }

    /// Optimises the model into a runnable plan whose outputs are the values the graph's relevance pass
    /// needs, for every method or for R-LRP alone. The optimiser's budget is judged on the plan
    /// for every method, so that a model is accepted or refused at load whichever plan it starts with.
    pub fn into_engine(mut self, graph: &Graph, keep: Keep) -> Result<Engine> {
        self.check_optimiser_work(values_to_keep(graph, Keep::Everything).len())?;
        let needed = values_to_keep(graph, keep);
        let mut outlets = Vec::new();
        let mut kept = Vec::new();
        let current = self.model.output_outlets().map_err(|e| Error::Engine(e.to_string()))?.to_vec();
        for v in needed {
            let name = &graph.values[v].name;
            let pos = self
                .names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| Error::Engine(format!("the engine does not expose tensor '{name}'")))?;
            outlets.push(current[pos]);
            kept.push(v);
        }
        guarded("selecting outputs", || self.model.select_output_outlets(&outlets))?;
        let plan = guarded("optimising the model", || optimise(self.model))?;
        Ok(Engine { plan, kept, keep, input_shape: graph.values[graph.input].shape.clone() })
    }

    /// Refuses a model that would keep tract's optimiser busy for minutes ([`budget::optimiser_work`])
    /// as a plan with `outputs` outputs.
    fn check_optimiser_work(&self, outputs: usize) -> Result<()> {
        let nodes = self.model.nodes();
        let readers = || nodes.iter().flat_map(|n| n.outputs.iter().map(|o| o.successors.len()));
        let convolutions = nodes.iter().filter(|n| n.op.name() == "Conv").count();
        let work = budget::optimiser_work(readers(), outputs, convolutions);
        budget::check_optimiser_work(work, nodes.len(), readers().max().unwrap_or(0), convolutions)
    }
}

/// Our 1×1 convolutions (in the browser), tract's declutter, our depthwise convolutions and
/// QDQ pairs in place of tract's, then tract's codegen, then the clamps after our convolutions
/// folded into them, kept values taken after the reshape that reads them and our
/// clamps where tract's would copy a kept input, and our 1×1 kernels' constant weights laid out
/// for them: a plan as `into_optimized` would make, but for those ops.
fn optimise(mut model: TypedModel) -> TractResult<Arc<TypedRunnableModel>> {
    // In the browser only: natively tract's AVX kernels run these faster than ours (Lite0's forward
    // 16.0 ms against 29.3 with them swapped in).
    if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        pointwise::use_our_pointwise(&mut model)?;
    }
    model.declutter()?;
    depthwise::use_our_depthwise(&mut model)?;
    fake_quant::use_our_fake_quant(&mut model)?;
    model.optimize()?;
    folded_clamps::fold_clamps(&mut model)?;
    reshaped_outputs::keep_reshaped_outputs(&mut model)?;
    out_of_place::use_out_of_place_clamps(&mut model)?;
    our_conv::pack_constant_kernels(&mut model)?;
    model.into_runnable()
}

/// Which values a forward plan keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Keep {
    /// What any method reads: also the inputs of activations and saturations, which the gradients
    /// differentiate and from which the LRP rules take a layer's output z instead of computing it.
    #[default]
    Everything,
    /// What R-LRP reads (RLRP.md: relevance passes activations, saturations and gates unchanged):
    /// a layer's output z before its ReLU6 is not kept, so tract fuses the clamp into the
    /// convolution's kernel instead of writing z and then the clamped copy.
    Rlrp,
}

impl Keep {
    /// True when this plan's activations are all that `method` reads.
    pub fn serves(self, method: Method) -> bool {
        self == Keep::Everything || matches!(method.family(), Family::Rlrp { .. })
    }
}

/// The values the relevance pass reads: the logits and the inputs of every node whose rule depends on
/// activations (linear layers, activations, max-pool, skip additions), for every method or for
/// R-LRP alone.
pub fn values_to_keep(graph: &Graph, keep: Keep) -> Vec<ValueId> {
    let rlrp_only = keep == Keep::Rlrp;
    let mut read = vec![false; graph.values.len()];
    read[graph.output] = true;
    for n in &graph.nodes {
        for k in n.op.reads_activations(n.inputs.len(), rlrp_only) {
            read[n.inputs[k]] = true;
        }
    }
    read[graph.input] = false; // the input is known
    (0..read.len()).filter(|&i| read[i]).collect()
}

/// A runnable forward pass.
pub struct Engine {
    plan: Arc<TypedRunnableModel>,
    kept: Vec<ValueId>,
    keep: Keep,
    input_shape: Vec<usize>,
}

/// Activations of one forward pass, by value id. The plan's outputs stay in tract's own storage
/// (copying them into ndarray arrays took as long as the pass itself natively: ~53 MB for
/// EfficientNet-Lite0, most of it fresh pages); [`Activations::get`] lends a view.
pub struct Activations {
    values: Vec<Option<Kept>>,
    keep: Keep,
}

/// One kept activation: tract's output tensor (f32, contiguous, as many elements as `shape`) read
/// with the graph's shape, or one of ours (the input).
enum Kept {
    Tract { tensor: tract_onnx::prelude::Tensor, shape: Vec<usize> },
    Ours(Tensor),
}

impl Activations {
    /// Which values the plan that made these kept.
    pub fn keep(&self) -> Keep {
        self.keep
    }

    /// The activation of value `v`, if the forward pass kept it.
    pub fn get(&self, v: ValueId) -> Option<TensorView<'_>> {
        match self.values.get(v)?.as_ref()? {
            Kept::Ours(t) => Some(t.view()),
            Kept::Tract { tensor, shape } => {
                tensor.to_plain_array_view::<f32>().ok()?.into_shape_with_order(ndarray::IxDyn(shape)).ok()
            }
        }
    }
}

impl Engine {
    /// Which values this plan keeps.
    pub fn keep(&self) -> Keep {
        self.keep
    }

    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Runs the model on `input` (shape must equal the model input shape) and keeps the activations.
    pub fn run(&self, graph: &Graph, input: &Tensor) -> Result<Activations> {
        if input.shape() != self.input_shape.as_slice() {
            return Err(Error::InputShape { expected: self.input_shape.clone(), got: input.shape().to_vec() });
        }
        let bad = input.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(Error::NonFiniteInput(bad));
        }
        let t: tract_onnx::prelude::Tensor = input.clone().into();
        let outputs = guarded("running the forward pass", || self.plan.run(tvec!(t.into_tvalue())))?;
        let mut values: Vec<Option<Kept>> = (0..graph.values.len()).map(|_| None).collect();
        for (o, &v) in outputs.into_iter().zip(&self.kept) {
            let shape = graph.values[v].shape.clone();
            let tensor = guarded("reading an activation", || {
                let t = o.into_tensor();
                Ok(if t.datum_type() == f32::datum_type() { t } else { t.cast_to::<f32>()?.into_owned() })
            })?;
            let fits = tensor.len() == shape.iter().product::<usize>()
                && tensor.to_plain_array_view::<f32>().is_ok_and(|a| a.is_standard_layout());
            if !fits {
                return Err(Error::Engine(format!(
                    "activation '{}' has {} values of shape {:?}, where the graph says {:?}",
                    graph.values[v].name,
                    tensor.len(),
                    tensor.shape(),
                    shape
                )));
            }
            values[v] = Some(Kept::Tract { tensor, shape });
        }
        values[graph.input] = Some(Kept::Ours(input.clone()));
        Ok(Activations { values, keep: self.keep })
    }
}

/// A forward pass that computes only the logits, of `batch` inputs at once: evaluation runs
/// thousands of perturbed inputs, and a plan that keeps no activation lets tract fuse (Conv + Clip,
/// …) and reuse memory the explaining plan cannot.
pub struct LogitPlan {
    plan: Arc<TypedRunnableModel>,
    batch: usize,
    /// The shape of one input (batch 1).
    input_shape: Vec<usize>,
    classes: usize,
}

impl LogitPlan {
    /// A plan of `proto` for inputs of `input_shape` (batch 1) stacked `batch` at a time, whose one
    /// output is the value `output` (`classes` scores per input). Fails where the model cannot take
    /// that batch (e.g. a Flatten from axis 0; see also `model::for_batch`).
    pub fn new(proto: &ModelProto, input_shape: &[usize], output: &str, classes: usize, batch: usize) -> Result<Self> {
        if input_shape.first() != Some(&1) || batch == 0 {
            return Err(Error::Engine(format!("cannot batch inputs of shape {input_shape:?} by {batch}")));
        }
        let mut shape = input_shape.to_vec();
        shape[0] = batch;
        budget::tensor_elements("a batch of inputs", &shape).map_err(budget::budget_error)?;
        let mut model = guarded("loading the model", || tract_onnx::onnx().model_for_proto_model(proto))?;
        guarded("setting the input shape", || {
            model.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), &shape))
        })?;
        let outlet = model
            .find_outlet_label(output)
            .ok_or_else(|| Error::Engine(format!("the engine does not expose tensor '{output}'")))?;
        guarded("selecting outputs", || model.select_output_outlets(&[outlet]))?;
        let plan = guarded("optimising the model", || optimise(model.into_typed()?))?;
        Ok(LogitPlan { plan, batch, input_shape: input_shape.to_vec(), classes })
    }

    /// Inputs per run.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The logits of every input (each of the batch-1 input shape), `batch` at a time; a short last
    /// batch is padded with copies of its last input.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Vec<f32>>> {
        let per: usize = self.input_shape.iter().product();
        let mut out = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(self.batch) {
            let mut data: Vec<f32> = Vec::with_capacity(per * self.batch);
            for k in 0..self.batch {
                let x = &chunk[k.min(chunk.len() - 1)];
                if x.shape() != self.input_shape.as_slice() {
                    return Err(Error::InputShape { expected: self.input_shape.clone(), got: x.shape().to_vec() });
                }
                if x.iter().any(|v| !v.is_finite()) {
                    return Err(Error::NonFiniteInput(x.iter().filter(|v| !v.is_finite()).count()));
                }
                data.extend(x.iter());
            }
            let mut shape = self.input_shape.clone();
            shape[0] = self.batch;
            let t = tract_onnx::prelude::Tensor::from_shape(&shape, &data)
                .map_err(|e| Error::Engine(format!("building a batch: {e}")))?;
            let outputs = guarded("running the forward pass", || self.plan.run(tvec!(t.into_tvalue())))?;
            let logits = guarded("reading the logits", || {
                Ok(outputs[0].cast_to::<f32>()?.to_plain_array_view::<f32>()?.iter().copied().collect::<Vec<f32>>())
            })?;
            if logits.len() != self.classes * self.batch {
                return Err(Error::Engine(format!(
                    "a batch of {} gave {} scores, not {} per input",
                    self.batch,
                    logits.len(),
                    self.classes
                )));
            }
            out.extend(logits.chunks(self.classes).take(chunk.len()).map(<[f32]>::to_vec));
        }
        Ok(out)
    }
}

/// The logits-only passes evaluation runs its perturbation curves through: a plan of several
/// inputs at a time, or, one at a time, passes cropped around what changed since the thread's
/// previous input ([`incremental`]: consecutive points of a curve differ by a patch).
pub enum LogitPasses {
    Batched(LogitPlan),
    Cropped(Box<incremental::IncrementalLogits>),
}

impl LogitPasses {
    /// Inputs per run.
    pub fn batch(&self) -> usize {
        match self {
            LogitPasses::Batched(plan) => plan.batch(),
            LogitPasses::Cropped(_) => 1,
        }
    }

    /// The logits of every input, in order.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Vec<f32>>> {
        match self {
            LogitPasses::Batched(plan) => plan.run(inputs),
            LogitPasses::Cropped(passes) => inputs.iter().map(|x| passes.run(x)).collect(),
        }
    }
}
