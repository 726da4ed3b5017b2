//! Logits-only forward passes of inputs that each differ from the previous one in a small box, as
//! pixel flipping's consecutive points do (one patch more removed): the model's local prefix is
//! recomputed on a crop around the change, section by section ([`spec`]), and pasted into the maps
//! the previous pass kept; only the rest of the model runs whole. An input that differs more, or
//! a model without a local prefix, takes the whole pass. The first cropped pass of each runner is
//! checked against a whole one, and a mismatch turns cropping off. RLRP.md has no section here:
//! the passes give the same logits, sooner.
pub mod spec;

use super::{guarded, optimise};
use crate::error::{Error, Result};
use crate::model::part::part;
use crate::tensor::Tensor;
use spec::{IncrementalSpec, Region};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

/// What the previous pass left: its input, each section's output map (whole), its logits.
struct Kept {
    input: Vec<f32>,
    maps: Vec<Vec<f32>>,
    logits: Vec<f32>,
}

/// A logits-only forward pass that recomputes only what changed since its previous input.
pub struct IncrementalLogits {
    /// The whole pass.
    whole: WholePass,
    /// Each section on its crop: built at the first pass that can be cropped, from the model kept
    /// until then (a pixel-flipping run's first, coarse look takes whole passes only, and answers
    /// sooner without them).
    crops: OnceLock<Option<Vec<Arc<TypedRunnableModel>>>>,
    pending: Mutex<Option<ModelProto>>,
    spec: Option<IncrementalSpec>,
    input_shape: Vec<usize>,
    classes: usize,
    /// What each thread's previous pass left (evaluation shares one runner between threads, each
    /// walking its own curves).
    kept: Mutex<Vec<(ThreadId, Kept)>>,
    /// [`UNCHECKED`], [`SAME`] or [`DIFFERENT`]: whether the first cropped pass gave the whole
    /// pass's logits ([`UNPLANNED`]: tract could not plan the crops).
    checked: AtomicU8,
    cropped_passes: AtomicUsize,
}

const UNCHECKED: u8 = 0;
const SAME: u8 = 1;
const DIFFERENT: u8 = 2;
const UNPLANNED: u8 = 3;

/// More separate changes than this take the whole pass: each box crops every section again, and
/// pixel flipping's consecutive points differ by one patch, or two where its coarse first look
/// took the point between (its own points, ~8 patches apart, are whole passes).
const MAX_BOXES: usize = 4;

/// The whole pass: one plan of the model where nothing is cropped; else each section on its whole
/// input, then the rest of the model from the last section's output, the plan that the cropped
/// passes end with too. The rest is most of the model: built once, it is planned once per worker
/// on a model's first pixel flipping (in the page's trace, each worker's first cropped pass took
/// ~90 ms less with it) and its weights are held once.
enum WholePass {
    One(Arc<TypedRunnableModel>),
    /// Each section's plan with the shape of its input, then the rest's.
    Sections {
        sections: Vec<(Arc<TypedRunnableModel>, Vec<usize>)>,
        rest: (Arc<TypedRunnableModel>, Vec<usize>),
    },
}

/// Cropped logits may differ from the whole pass's by rounding only (the kernels can sum a crop's
/// products in another order).
const TOLERANCE: f32 = 1e-4;

impl IncrementalLogits {
    /// The passes of `proto` (input of `input_shape`, batch 1; output tensor `output` with
    /// `classes` scores), cropping as `spec` says (None: every pass whole).
    pub fn new(
        proto: &ModelProto,
        input_shape: &[usize],
        output: &str,
        classes: usize,
        spec: Option<IncrementalSpec>,
    ) -> Result<IncrementalLogits> {
        let mut proto = proto.clone();
        if let Some(g) = proto.graph.as_mut() {
            // Shapes the exporter wrote down hold for the whole input only.
            g.value_info.clear();
            for o in g.output.iter_mut() {
                o.r#type = None;
            }
        }
        let spec = spec.filter(|s| !s.sections.is_empty());
        if let Some(spec) = &spec {
            spec.check(input_shape)?;
        }
        // Where tract cannot plan the sections, every pass is whole.
        let (whole, spec) = match spec.as_ref().map(|s| sections_then_rest(&proto, output, s)) {
            Some(Ok(whole)) => (whole, spec),
            _ => (WholePass::One(plan(&proto, None, input_shape, &[output])?), None),
        };
        let pending = spec.is_some().then_some(proto);
        Ok(IncrementalLogits {
            whole,
            crops: OnceLock::new(),
            pending: Mutex::new(pending),
            spec,
            input_shape: input_shape.to_vec(),
            classes,
            kept: Mutex::new(Vec::new()),
            checked: AtomicU8::new(UNCHECKED),
            cropped_passes: AtomicUsize::new(0),
        })
    }

    /// Builds the crop plans once (None, and no cropping from then on, where tract cannot plan
    /// them).
    fn crop_plans(&self) -> Option<&[Arc<TypedRunnableModel>]> {
        let plans = self.crops.get_or_init(|| {
            let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner()).take();
            let (spec, proto) = (self.spec.as_ref()?, pending?);
            crop_plans(&proto, spec).ok()
        });
        if plans.is_none() {
            self.checked.store(UNPLANNED, Ordering::Relaxed);
        }
        plans.as_deref()
    }

    /// This thread's kept pass, taken out (other threads keep theirs).
    fn take_kept(&self) -> Option<Kept> {
        let mut all = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let me = std::thread::current().id();
        all.iter().position(|(t, _)| *t == me).map(|i| all.swap_remove(i).1)
    }

    /// Keeps `kept` as this thread's previous pass.
    fn put_kept(&self, kept: Kept) {
        let mut all = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let me = std::thread::current().id();
        all.retain(|(t, _)| *t != me);
        all.push((me, kept));
    }

    /// Whether passes can be cropped at all (the model has a local prefix worth it, and the check
    /// has not failed).
    pub fn crops(&self) -> bool {
        self.spec.is_some() && matches!(self.checked.load(Ordering::Relaxed), UNCHECKED | SAME)
    }

    /// Whether the first cropped pass gave other logits than the whole pass (and cropping was
    /// turned off): a section's reach or crop is wrong for this model.
    pub fn crops_differed(&self) -> bool {
        self.checked.load(Ordering::Relaxed) == DIFFERENT
    }

    /// Where the passes crop the model, unless they are all whole.
    pub fn spec(&self) -> Option<&IncrementalSpec> {
        self.spec.as_ref().filter(|_| self.crops())
    }

    /// How many passes were cropped so far.
    pub fn cropped_passes(&self) -> usize {
        self.cropped_passes.load(Ordering::Relaxed)
    }

    /// The logits of `input` (the batch-1 input shape, finite values).
    pub fn run(&self, input: &Tensor) -> Result<Vec<f32>> {
        if input.shape() != self.input_shape.as_slice() {
            return Err(Error::InputShape { expected: self.input_shape.clone(), got: input.shape().to_vec() });
        }
        // a copy of the values (one memcpy when the tensor is contiguous, as inputs are)
        let x: Vec<f32> = input.as_slice().map_or_else(|| input.iter().copied().collect(), <[f32]>::to_vec);
        let bad = x.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(Error::NonFiniteInput(bad));
        }
        if let Some(mut kept) = self.take_kept().filter(|_| self.crops()) {
            let boxes = changed_boxes(&kept.input, &x, &self.input_shape);
            if boxes.is_empty() {
                let logits = kept.logits.clone();
                self.put_kept(kept);
                return Ok(logits);
            }
            // On None (no crop fits) or an error the kept pass is dropped: the whole pass renews it.
            if let Some(logits) = self.cropped(&mut kept, &x, &boxes)? {
                self.put_kept(kept);
                return self.checked_once(&x, logits);
            }
        }
        self.whole_pass(&x)
    }

    /// The first cropped logits are compared with the whole pass's; a mismatch turns cropping off.
    fn checked_once(&self, x: &[f32], logits: Vec<f32>) -> Result<Vec<f32>> {
        self.cropped_passes.fetch_add(1, Ordering::Relaxed);
        if self.checked.load(Ordering::Relaxed) != UNCHECKED {
            return Ok(logits);
        }
        let whole = self.whole_pass(x)?;
        let scale = whole.iter().fold(1f32, |m, v| m.max(v.abs()));
        let same =
            whole.len() == logits.len() && whole.iter().zip(&logits).all(|(a, b)| (a - b).abs() <= TOLERANCE * scale);
        self.checked.store(if same { SAME } else { DIFFERENT }, Ordering::Relaxed);
        Ok(whole)
    }

    /// The whole pass, keeping the sections' maps for the next (while passes may be cropped).
    fn whole_pass(&self, x: &[f32]) -> Result<Vec<f32>> {
        let no_logits = || Error::Engine("the forward pass produced no logits".into());
        let (logits, outputs) = match &self.whole {
            WholePass::Sections { sections, rest: (rest, rest_shape) } => {
                let mut maps: Vec<Vec<f32>> = Vec::with_capacity(sections.len());
                for (plan, shape) in sections {
                    let map = run_plan(plan, shape, maps.last().map_or(x, Vec::as_slice))?.swap_remove(0);
                    maps.push(map);
                }
                let logits = run_plan(rest, rest_shape, maps.last().ok_or_else(no_logits)?)?.swap_remove(0);
                (logits, maps)
            }
            WholePass::One(plan) => (run_plan(plan, &self.input_shape, x)?.pop().ok_or_else(no_logits)?, Vec::new()),
        };
        if logits.len() != self.classes {
            return Err(Error::Engine(format!("the forward pass gave {} scores, not {}", logits.len(), self.classes)));
        }
        if self.crops() {
            self.put_kept(Kept { input: x.to_vec(), maps: outputs, logits: logits.clone() });
        }
        Ok(logits)
    }

    /// The logits of `x`, which differs from the kept input within `boxes`, by cropping; None when
    /// a change does not fit the crops. Each box is carried through every section in turn (a
    /// section's crop may read what an earlier box's pass left stale, but only where a later box's
    /// pass rewrites it), then the rest of the model runs once.
    fn cropped(&self, kept: &mut Kept, x: &[f32], boxes: &[Region]) -> Result<Option<Vec<f32>>> {
        let Some(spec) = &self.spec else { return Ok(None) };
        if boxes.len() > MAX_BOXES {
            return Ok(None);
        }
        let places: Option<Vec<Vec<_>>> =
            boxes.iter().map(|b| spec.sections.iter().map(|s| s.crop_for(*b)).collect()).collect();
        let Some(places) = places else { return Ok(None) };
        let WholePass::Sections { rest: (rest, rest_shape), .. } = &self.whole else { return Ok(None) };
        let Some(plans) = self.crop_plans() else { return Ok(None) };
        for box_places in places {
            for (k, (s, (affected, origin))) in spec.sections.iter().zip(box_places).enumerate() {
                crop_section(&plans[k], s, k, kept, x, affected, origin)?;
            }
        }
        let logits = run_plan(rest, rest_shape, kept.maps.last().expect("a map per section"))?.swap_remove(0);
        kept.input.copy_from_slice(x);
        kept.logits.clone_from(&logits);
        Ok(Some(logits))
    }
}

/// Section `s` (the `k`-th) on the crop at `origin` of its input (`x` for the first), by its
/// `plan`, its `affected` output pasted into the kept map.
fn crop_section(
    plan: &Arc<TypedRunnableModel>,
    s: &spec::Section,
    k: usize,
    kept: &mut Kept,
    x: &[f32],
    affected: Region,
    origin: [usize; 2],
) -> Result<()> {
    let (c, h, w) = (s.in_shape[1], s.in_shape[2], s.in_shape[3]);
    let [wh, ww] = s.window;
    let source: &[f32] = if k == 0 { x } else { &kept.maps[k - 1] };
    let mut crop = Vec::with_capacity(c * wh * ww);
    for ch in 0..c {
        for y in origin[0]..origin[0] + wh {
            let row = (ch * h + y) * w + origin[1];
            crop.extend_from_slice(&source[row..row + ww]);
        }
    }
    let out = run_plan(plan, &[1, c, wh, ww], &crop)?.swap_remove(0);
    let (oc, oh, ow) = (s.out_shape[1], s.out_shape[2], s.out_shape[3]);
    let (crop_h, crop_w) = (oh - (h - wh) / s.reach[0].stride, ow - (w - ww) / s.reach[1].stride);
    if out.len() != oc * crop_h * crop_w {
        return Err(Error::Engine(format!(
            "a crop of '{}' gave {} values, not {}",
            s.to,
            out.len(),
            oc * crop_h * crop_w
        )));
    }
    let (dy, dx) = (origin[0] / s.reach[0].stride, origin[1] / s.reach[1].stride);
    let [(y0, y1), (x0, x1)] = affected;
    if y0 < dy || x0 < dx || y1 - dy > crop_h || x1 - dx > crop_w || y1 > oh || x1 > ow {
        return Err(Error::Engine(format!("a crop of '{}' does not hold its change", s.to)));
    }
    let map = &mut kept.maps[k];
    for ch in 0..oc {
        for y in y0..y1 {
            let from = (ch * crop_h + y - dy) * crop_w + x0 - dx;
            let to = (ch * oh + y) * ow + x0;
            map[to..to + (x1 - x0)].copy_from_slice(&out[from..from + (x1 - x0)]);
        }
    }
    Ok(())
}

/// Each section's plan on its crop.
fn crop_plans(proto: &ModelProto, spec: &IncrementalSpec) -> Result<Vec<Arc<TypedRunnableModel>>> {
    let crop = |s: &spec::Section| [s.in_shape[0], s.in_shape[1], s.window[0], s.window[1]];
    spec.sections.iter().map(|s| plan(proto, s.from.as_deref(), &crop(s), &[&s.to])).collect()
}

/// The whole pass in pieces: each section on its whole input, and the rest of the model (to
/// `output`) from the last section's output.
fn sections_then_rest(proto: &ModelProto, output: &str, spec: &IncrementalSpec) -> Result<WholePass> {
    let sections = spec
        .sections
        .iter()
        .map(|s| Ok((plan(proto, s.from.as_deref(), &s.in_shape, &[&s.to])?, s.in_shape.clone())))
        .collect::<Result<_>>()?;
    let last = spec.sections.last().ok_or_else(|| Error::Engine("no section to crop".into()))?;
    let rest = plan(proto, Some(&last.to), &last.out_shape, &[output])?;
    Ok(WholePass::Sections { sections, rest: (rest, last.out_shape.clone()) })
}

/// Boxes (half-open rows and columns) that hold every element where `a` and `b` differ, over all
/// channels of the NCHW `shape`: each run of rows with a difference, split into the runs of columns
/// with a difference in those rows (separate patches, separate boxes). Runs less than [`HOLE`]
/// apart are one: a patch whose pixels already had the fill's value in places (black in a photo's
/// dark parts) stays one box. Empty when they are equal.
fn changed_boxes(a: &[f32], b: &[f32], shape: &[usize]) -> Vec<Region> {
    let (h, w) = (shape[2], shape[3]);
    let mut columns = vec![vec![false; w]; h];
    let mut rows = vec![false; h];
    for (i, (p, q)) in a.chunks(w).zip(b.chunks(w)).enumerate() {
        if p == q {
            continue;
        }
        let y = i % h;
        for (x, (u, v)) in p.iter().zip(q).enumerate() {
            if u.to_bits() != v.to_bits() {
                columns[y][x] = true;
                rows[y] = true;
            }
        }
    }
    let mut boxes = Vec::new();
    for (y0, y1) in runs(&rows) {
        let used: Vec<bool> = (0..w).map(|x| (y0..y1).any(|y| columns[y][x])).collect();
        boxes.extend(runs(&used).into_iter().map(|xs| [(y0, y1), xs]));
    }
    boxes
}

/// Gaps of fewer elements than this between two runs of differences do not separate them.
const HOLE: usize = 8;

/// The maximal runs of `true` (half-open), runs less than [`HOLE`] apart joined.
fn runs(flags: &[bool]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, &f) in flags.iter().chain(std::iter::once(&false)).enumerate() {
        match (f, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                match out.last_mut() {
                    Some(last) if s - last.1 < HOLE => last.1 = i,
                    _ => out.push((s, i)),
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// A plan of `proto` from tensor `from` (None: the model's input) of `shape` to `outputs`.
fn plan(proto: &ModelProto, from: Option<&str>, shape: &[usize], outputs: &[&str]) -> Result<Arc<TypedRunnableModel>> {
    let proto = part(proto, from, outputs)?;
    let mut model = guarded("loading the model", || tract_onnx::onnx().model_for_proto_model(&proto))?;
    guarded("setting the input shape", || model.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape)))?;
    let mut outlets = Vec::with_capacity(outputs.len());
    for o in outputs {
        outlets
            .push(model.find_outlet_label(o).ok_or_else(|| Error::Engine(format!("the model has no tensor '{o}'")))?);
    }
    guarded("selecting outputs", || model.select_output_outlets(&outlets))?;
    guarded("optimising the model", || optimise(model.into_typed()?))
}

/// Runs `plan` on `data` of `shape`; every output as f32 values.
fn run_plan(plan: &Arc<TypedRunnableModel>, shape: &[usize], data: &[f32]) -> Result<Vec<Vec<f32>>> {
    let t =
        tract_onnx::prelude::Tensor::from_shape(shape, data).map_err(|e| Error::Engine(format!("an input: {e}")))?;
    let outputs = guarded("running the forward pass", || plan.run(tvec!(t.into_tvalue())))?;
    let mut values = Vec::with_capacity(outputs.len());
    for o in outputs {
        values.push(guarded("reading an output", || {
            let values = o.cast_to::<f32>()?;
            let view = values.to_plain_array_view::<f32>()?;
            Ok(view.as_slice().map_or_else(|| view.iter().copied().collect(), <[f32]>::to_vec))
        })?);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::changed_boxes;

    /// One channel of 40 × 40 with the given pixels changed.
    fn changed(pixels: &[(usize, usize)]) -> Vec<[(usize, usize); 2]> {
        let a = vec![0.0f32; 2 * 40 * 40];
        let mut b = a.clone();
        for &(y, x) in pixels {
            b[40 * 40 + y * 40 + x] = 1.0; // the second channel
        }
        changed_boxes(&a, &b, &[1, 2, 40, 40])
    }

    #[test]
    fn a_patch_with_holes_is_one_box_and_far_patches_are_two() {
        let patch = |y0: usize, x0: usize| -> Vec<(usize, usize)> {
            (y0..y0 + 8).flat_map(|y| (x0..x0 + 8).map(move |x| (y, x))).filter(|&(y, x)| (y + x) % 5 != 0).collect()
        };
        let mut holed = patch(4, 4);
        holed.retain(|&(y, x)| y != 6 && x != 9 && x != 10); // a whole row and two columns unchanged
        assert_eq!(changed(&holed), vec![[(4, 12), (4, 12)]]);
        let two = [patch(0, 0), patch(24, 30)].concat();
        assert_eq!(changed(&two), vec![[(0, 8), (0, 8)], [(24, 32), (30, 38)]]);
        assert_eq!(changed(&[]), Vec::<[(usize, usize); 2]>::new());
    }
}
