//! The evaluation loop behind `rlrp eval`: every input × every method → region perturbation,
//! noise robustness, max-sensitivity, conservation and time per explanation.
//!
//! [`evaluate_image`] is pure computation (it builds for wasm32; time is measured only natively).
//! The perturbation curves (most of the forward passes) run through [`LogitPasses`] when given:
//! logits only, many perturbed inputs per pass, or one at a time cropped around the patch that
//! changed ([`choose_logit_plan`] checks them against the explaining forward pass first).
//! [`evaluate`] runs a whole set, on native targets split across `std::thread::scope` workers
//! that share one [`Model`] (`Model` is `Sync`: tract's plan sits behind an `Arc` and runs with
//! `&self`). Inputs come from [`inputs_from_npy`] (a batch of preprocessed or raw-pixel inputs) or
//! from the caller's own preprocessing of image files.
use super::perturbation::PerturbationResult;
use super::perturbation::{
    logit_fn, random_baseline, region_perturbation_against, Baseline, BatchedTarget, PerturbationConfig, TargetLogit,
};
use super::robustness::{max_sensitivity, noise_robustness, MaxSensitivity};
use super::{conservation, Conservation};
use crate::error::{Error, Result};
use crate::explain::options_for;
use crate::forward::incremental::spec::IncrementalSpec;
use crate::forward::LogitPasses;
use crate::model::Model;
use crate::relevance::{self, ExplainOptions, Method, MethodParams};
use crate::sidecar::{Layout, Sidecar};
use crate::tensor::{ndarray, Tensor};

/// What to compute for every input and method.
#[derive(Clone, Debug)]
pub struct EvalConfig {
    pub methods: Vec<Method>,
    /// Method parameters; `input_range` is filled from the sidecar by [`EvalConfig::new`].
    pub params: MethodParams,
    /// Region perturbation settings (patch, steps, baseline, random orders, seed).
    pub perturbation: PerturbationConfig,
    /// Noise levels of the robustness test, as fractions of the input range (default 1e-3, 1e-2).
    pub noise_sigmas: Vec<f32>,
    /// Draws per noise level (0 = no robustness test).
    pub noise_seeds: usize,
    /// Samples of max-sensitivity (0 = not computed).
    pub sensitivity_samples: usize,
    /// L∞ radius of the max-sensitivity noise, in model-input units (Quantus' default 0.2).
    pub sensitivity_radius: f32,
    /// The smallest and largest preprocessed input value (σ of the noise test is relative to it).
    pub input_range: (f32, f32),
    /// Seed of every random draw (noise, random orders).
    pub seed: u64,
    /// How many inputs keep their relevance tensors (for the heatmap grid): spread evenly over the
    /// set (see [`EvalConfig::keeps_relevance`]).
    pub keep_relevance: usize,
    /// Robustness and max-sensitivity only for the first this many inputs (None = all): they cost
    /// 2·seeds + samples explanations per input and method, the rest about one.
    pub robustness_limit: Option<usize>,
}

impl EvalConfig {
    /// Defaults for `model` and its (optional) sidecar: all methods, [`PerturbationConfig::for_input`]
    /// with the black baseline of the sidecar's normalisation, σ ∈ {1e-3, 1e-2} of the input range
    /// with 5 draws each, 10 max-sensitivity samples of radius 0.2, seed 0, relevance kept for 6 inputs.
    pub fn new(model: &Model, sidecar: Option<&Sidecar>) -> EvalConfig {
        let mut perturbation = PerturbationConfig::for_input(model.input_shape());
        if let Some(s) = sidecar {
            perturbation.baseline = Baseline::black(&s.mean(), &s.std());
        }
        let params = options_for(None, MethodParams::default(), sidecar).params;
        EvalConfig {
            methods: Method::ALL.to_vec(),
            input_range: params.input_range.unwrap_or((0.0, 1.0)),
            params,
            perturbation,
            noise_sigmas: vec![1e-3, 1e-2],
            noise_seeds: 5,
            sensitivity_samples: 10,
            sensitivity_radius: 0.2,
            seed: 0,
            keep_relevance: 6,
            robustness_limit: None,
        }
    }

    /// Whether input `image` of `inputs` keeps its relevance: inputs 0, s, 2s, … with
    /// s = max(1, ⌊inputs / keep_relevance⌋), at most `keep_relevance` of them (so a grid shows
    /// the whole set, not only its first files).
    pub fn keeps_relevance(&self, image: usize, inputs: usize) -> bool {
        spread_pick(image, inputs, self.keep_relevance)
    }
}

/// Whether `image` is one of `count` picks spread evenly over `inputs` (see
/// [`EvalConfig::keeps_relevance`]).
fn spread_pick(image: usize, inputs: usize, count: usize) -> bool {
    if count == 0 {
        return false;
    }
    let step = (inputs / count).max(1);
    image.is_multiple_of(step) && image / step < count
}

/// Relative L2 change of the heatmap under Gaussian noise of one level.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct NoiseResult {
    /// σ as a fraction of the input range.
    pub sigma: f32,
    pub mean: f64,
    pub max: f64,
}

/// Every metric of one input explained by one method.
#[derive(Clone, Debug)]
pub struct ImageMethodResult {
    /// Index of the input in the evaluated set.
    pub image: usize,
    /// The input's name (file name, or `npy[i]`).
    pub name: String,
    pub method: Method,
    /// The explained class (the predicted class of the clean input).
    pub target: usize,
    pub logit: f32,
    pub perturbation: PerturbationResult,
    /// One entry per [`EvalConfig::noise_sigmas`]; empty when the test is off.
    pub noise: Vec<NoiseResult>,
    pub sensitivity: Option<MaxSensitivity>,
    pub conservation: Conservation,
    /// Wall-clock time of the explanation of the clean input (forward + relevance), in ms; NaN
    /// where no clock exists (wasm32).
    pub explain_ms: f64,
    /// The input relevance, for the inputs [`EvalConfig::keeps_relevance`] picks.
    pub relevance: Option<Tensor>,
}

#[cfg(not(target_arch = "wasm32"))]
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = std::time::Instant::now();
    let v = f();
    (v, t.elapsed().as_secs_f64() * 1e3)
}

#[cfg(target_arch = "wasm32")]
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    (f(), f64::NAN)
}

/// Explains `input` with `method` for a fixed target.
fn relevance_of(model: &Model, input: &Tensor, method: Method, options: &ExplainOptions) -> Result<Tensor> {
    let acts = model.forward(input)?;
    Ok(relevance::explain(model, &acts, method, options, &mut |_, _| true)?.relevance)
}

/// All metrics of one input (index `image` of `inputs`, called `name`) for every method of `cfg`.
/// The target is the predicted class of the clean input and stays fixed under noise and
/// perturbation.
pub fn evaluate_image(
    model: &Model,
    plan: Option<&LogitPasses>,
    (image, inputs): (usize, usize),
    name: &str,
    input: &Tensor,
    cfg: &EvalConfig,
) -> Result<Vec<ImageMethodResult>> {
    let acts = model.forward(input)?;
    let target = relevance::argmax(model.logits(&acts)?);
    let options = ExplainOptions { target: Some(target), params: cfg.params.clone(), keep_layer_maps: false };
    let (lo, hi) = cfg.input_range;
    let range = (hi - lo).abs().max(f32::MIN_POSITIVE);
    let mut out = Vec::with_capacity(cfg.methods.len());
    // The random-order curve depends on the input and the target only: once for all methods.
    let mut target_logit: Box<dyn TargetLogit + '_> = match plan {
        Some(plan) => Box::new(BatchedTarget { plan, target }),
        None => Box::new(logit_fn(model, target)),
    };
    let random = random_baseline(target_logit.as_mut(), input, &cfg.perturbation)?;
    for &method in &cfg.methods {
        let (e, ms) = timed(|| -> Result<_> {
            let acts = model.forward(input)?;
            relevance::explain(model, &acts, method, &options, &mut |_, _| true)
        });
        let e = e?;
        let perturbation =
            region_perturbation_against(target_logit.as_mut(), input, &e.relevance, &cfg.perturbation, &random)?;
        let mut ex = |x: &Tensor| relevance_of(model, x, method, &options);
        let robust = cfg.robustness_limit.is_none_or(|n| image < n);
        let mut noise = Vec::new();
        if robust && cfg.noise_seeds > 0 {
            for &s in &cfg.noise_sigmas {
                let (mean, max) = noise_robustness(&mut ex, input, s * range, cfg.noise_seeds, cfg.seed)?;
                noise.push(NoiseResult { sigma: s, mean, max });
            }
        }
        let sensitivity = if robust && cfg.sensitivity_samples > 0 {
            Some(max_sensitivity(&mut ex, input, cfg.sensitivity_radius, cfg.sensitivity_samples, cfg.seed)?)
        } else {
            None
        };
        out.push(ImageMethodResult {
            image,
            name: name.to_string(),
            method,
            target,
            logit: e.logit,
            perturbation,
            noise,
            sensitivity,
            conservation: conservation(&e),
            explain_ms: ms,
            relevance: cfg.keeps_relevance(image, inputs).then(|| e.relevance.clone()),
        });
    }
    Ok(out)
}

/// Where an evaluation keeps each input's results as soon as they are done, and finds them again
/// when it is resumed ([`super::checkpoint::Checkpoint`]).
pub trait Resume: Sync {
    /// Input `image`'s results kept earlier (evaluated with `methods`, in that order), if any.
    fn kept(&self, image: usize, name: &str, methods: &[Method]) -> Result<Option<Vec<ImageMethodResult>>>;
    /// Keeps input `image`'s results.
    fn keep(&self, image: usize, results: &[ImageMethodResult]) -> Result<()>;
    /// Whether this run may evaluate one more input (`evaluated` were evaluated, not taken from
    /// what was kept): a run may be split into parts, each resumed by the next.
    fn may_evaluate(&self, evaluated: usize) -> bool {
        let _ = evaluated;
        true
    }
}

/// Keeps nothing.
pub struct NoResume;

impl Resume for NoResume {
    fn kept(&self, _: usize, _: &str, _: &[Method]) -> Result<Option<Vec<ImageMethodResult>>> {
        Ok(None)
    }
    fn keep(&self, _: usize, _: &[ImageMethodResult]) -> Result<()> {
        Ok(())
    }
}

/// Kept results lack the relevance tensors the grid shows: recomputes them for the inputs
/// [`EvalConfig::keeps_relevance`] picks (for the target the results name).
fn restore_relevance(
    model: &Model,
    (image, inputs): (usize, usize),
    input: &Tensor,
    cfg: &EvalConfig,
    results: &mut [ImageMethodResult],
) -> Result<()> {
    if !cfg.keeps_relevance(image, inputs) {
        return Ok(());
    }
    for r in results {
        let options = ExplainOptions { target: Some(r.target), params: cfg.params.clone(), keep_layer_maps: false };
        r.relevance = Some(relevance_of(model, input, r.method, &options)?);
    }
    Ok(())
}

/// Evaluates every input (`names[i]` names `inputs[i]`) with every method; results are ordered by
/// input, then by method as in `cfg.methods`. `plan` (see [`choose_logit_plan`]) computes the
/// perturbation curves; without it every perturbed input takes one explaining forward pass.
/// `progress(done, total)` is called after each input (from worker threads). Natively the inputs are split across `threads` workers (0 = all cores);
/// on wasm32 they run one after the other.
pub fn evaluate(
    model: &Model,
    plan: Option<&LogitPasses>,
    inputs: &[Tensor],
    names: &[String],
    cfg: &EvalConfig,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<ImageMethodResult>> {
    evaluate_resumable(model, plan, inputs, names, cfg, threads, progress, &NoResume)
}

/// [`evaluate`], keeping each input's results in `resume` as soon as they are done and taking the
/// inputs `resume` already holds from it instead of evaluating them again. [`Error::Cancelled`]
/// when `resume` stopped the run before every input was done (what was done is kept). Natively the
/// inputs go to `threads` workers taking them from a shared counter; on wasm32 (no threads) the
/// same loop runs on the calling thread.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_resumable(
    model: &Model,
    plan: Option<&LogitPasses>,
    inputs: &[Tensor],
    names: &[String],
    cfg: &EvalConfig,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
    resume: &dyn Resume,
) -> Result<Vec<ImageMethodResult>> {
    if names.len() != inputs.len() {
        return Err(Error::Request(format!("{} names for {} inputs", names.len(), inputs.len())));
    }
    if cfg.methods.is_empty() {
        return Err(Error::Request("no methods to evaluate".into()));
    }
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    fn assert_sync<T: Sync>(_: &T) {}
    assert_sync(model);
    let threads =
        if threads == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { threads };
    let threads = threads.clamp(1, inputs.len().max(1));
    #[cfg(target_arch = "wasm32")]
    let threads = threads.min(1);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let (evaluated, stopped) = (AtomicUsize::new(0), AtomicBool::new(false));
    let slots: Mutex<Vec<Option<Result<Vec<ImageMethodResult>>>>> =
        Mutex::new((0..inputs.len()).map(|_| None).collect());
    let work = || loop {
        if failed.load(Ordering::Relaxed) {
            break;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= inputs.len() {
            break;
        }
        let at = (i, inputs.len());
        let r = match resume.kept(i, &names[i], &cfg.methods) {
            Ok(Some(mut kept)) => restore_relevance(model, at, &inputs[i], cfg, &mut kept).map(|()| kept),
            Ok(None) if !resume.may_evaluate(evaluated.fetch_add(1, Ordering::Relaxed)) => {
                stopped.store(true, Ordering::Relaxed);
                continue;
            }
            Ok(None) => evaluate_image(model, plan, at, &names[i], &inputs[i], cfg)
                .and_then(|results| resume.keep(i, &results).map(|()| results)),
            Err(e) => Err(e),
        };
        if r.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        slots.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
        progress(done.fetch_add(1, Ordering::Relaxed) + 1, inputs.len());
    };
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    let mut out = Vec::new();
    for (i, slot) in slots.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().enumerate() {
        match slot {
            Some(Ok(v)) => out.extend(v),
            Some(Err(e)) => return Err(Error::Request(format!("{}: {e}", names[i]))),
            None => {}
        }
    }
    if stopped.into_inner() {
        return Err(Error::Cancelled);
    }
    Ok(out)
}

/// Inputs per logits-only forward pass by default (`rlrp eval --batch`). One: with tract 0.23 a
/// batch costs more than its inputs one by one (measured, one thread, the 707 passes of one photo:
/// Lite0 38 s at batch 1, 64 s at batch 8; MNIST ResNet, 20 digits: 14.1 s at 1, 18.0 s at 8,
/// 20.6 s at 32; the explaining pass per input: 61.6 s and 14.7 s).
pub const DEFAULT_BATCH: usize = 1;

/// Memory a batched plan may use for its largest activations (a few are alive at once).
const BATCH_MEMORY: usize = 512 << 20;

/// The logits-only passes for the perturbation curves: `batch` inputs per pass (fewer when the
/// model's activations would take more than [`BATCH_MEMORY`]), else one per pass, cropped around
/// each changed patch of `patch` pixels where the model has a local prefix, else none (the
/// explaining forward pass). Passes count only if their logits agree with the explaining forward
/// pass's (to 1e-4 of the largest logit) on `probe` and on `probe`/2 run in the same batch.
/// Returns them and, when they are not the ones asked for, why.
pub fn choose_logit_plan(
    model: &Model,
    bytes: &[u8],
    batch: usize,
    patch: usize,
    probe: &Tensor,
) -> (Option<LogitPasses>, Option<String>) {
    if batch == 0 {
        return (None, None);
    }
    let largest = model.graph.values.iter().map(|v| v.shape.iter().product::<usize>()).max().unwrap_or(1).max(1);
    let fits = (BATCH_MEMORY / (4 * 4 * largest)).max(1);
    let batch = batch.min(fits);
    // Two different inputs in one batch: a rewrite for the batch that mixed images would show.
    let inputs = [probe.clone(), probe.mapv(|v| 0.5 * v)];
    let reference: Result<Vec<Vec<f32>>> =
        inputs.iter().map(|x| model.forward(x).and_then(|a| model.logits(&a).map(<[f32]>::to_vec))).collect();
    let agrees = |plan: &LogitPasses| -> Result<()> {
        let want = reference.as_ref().map_err(|e| Error::Request(e.to_string()))?;
        let got = plan.run(&inputs)?;
        for (want, got) in want.iter().zip(&got) {
            let scale = want.iter().fold(1e-30f32, |m, v| m.max(v.abs()));
            let worst = want.iter().zip(got).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            if got.len() != want.len() || worst > 1e-4 * scale {
                return Err(Error::Engine(format!("its logits differ from the explaining pass's by {worst:e}")));
            }
        }
        Ok(())
    };
    let mut why = Vec::new();
    for b in if batch > 1 { vec![batch, 1] } else { vec![1] } {
        let passes = if b == 1 {
            model
                .flip_passes(bytes, IncrementalSpec::of(&model.graph, patch))
                .map(|p| LogitPasses::Cropped(Box::new(p)))
        } else {
            model.logit_plan(bytes, b).map(LogitPasses::Batched)
        };
        match passes.and_then(|p| agrees(&p).map(|_| p)) {
            Ok(p) => {
                let note = (!why.is_empty()).then(|| why.join("; "));
                return (Some(p), note);
            }
            Err(e) => why.push(format!("a logits-only plan of batch {b} failed: {e}")),
        }
    }
    why.push("each perturbed input takes an explaining forward pass".into());
    (None, Some(why.join("; ")))
}

/// The inputs of a `.npy` batch for a model of input shape `[1, …]` (`model_shape`), at most `limit`.
///
/// Accepted shapes: `[N, …model_shape[1..]]`, or `[N, H, W]` for a one-channel model. Floating-point
/// data are taken as already preprocessed; integer data (e.g. uint8 pixels, as in
/// `mnist_eval_500_x.npy`) as raw pixels `p`, preprocessed with the sidecar as
/// `(p·scale − mean[c]) / std[c]`.
pub fn inputs_from_npy(
    bytes: &[u8],
    model_shape: &[usize],
    sidecar: &Sidecar,
    limit: Option<usize>,
) -> Result<Vec<Tensor>> {
    let header = crate::npy::read_header(bytes)?;
    let integer = header.descr.contains('u') || header.descr.contains('i') || header.descr.contains('b');
    let batch = crate::npy::read_npy(bytes)?;
    let shape = batch.shape().to_vec();
    let item: Vec<usize> = model_shape.get(1..).unwrap_or(&[]).to_vec();
    let per: usize = item.iter().product();
    let ok = match shape.len() {
        0 => false,
        n if n == model_shape.len() => shape[1..] == item[..],
        n if n + 1 == model_shape.len() => {
            shape[1..].iter().product::<usize>() == per && per > 0 && {
                let c = match sidecar.input.layout {
                    Layout::Nchw => item.first(),
                    Layout::Nhwc => item.last(),
                };
                c == Some(&1)
            }
        }
        _ => false,
    };
    if !ok || per == 0 {
        return Err(Error::Request(format!(
            "the .npy batch has shape {shape:?}; the model takes {model_shape:?} (expected [N, {}])",
            item.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    let n = limit.map_or(shape[0], |l| l.min(shape[0]));
    let (mean, std, scale) = (sidecar.mean(), sidecar.std(), sidecar.input.scale);
    let channels = sidecar.input.channels.max(1);
    let hw = per / channels;
    let flat: Vec<f32> = batch.iter().copied().collect();
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let mut v = flat[k * per..(k + 1) * per].to_vec();
        if integer {
            for (i, x) in v.iter_mut().enumerate() {
                let c = match sidecar.input.layout {
                    Layout::Nchw => (i / hw.max(1)) % channels,
                    Layout::Nhwc => i % channels,
                };
                let (m, s) = (mean.get(c).copied().unwrap_or(0.0), std.get(c).copied().unwrap_or(1.0));
                *x = ((*x as f64 * scale - m) / s) as f32;
            }
        }
        let mut shape1 = vec![1];
        shape1.extend_from_slice(&item);
        out.push(
            Tensor::from_shape_vec(ndarray::IxDyn(&shape1), v)
                .map_err(|e| Error::Request(format!("cannot build input {k}: {e}")))?,
        );
    }
    Ok(out)
}

/// The per-channel mean of a set of inputs (NCHW or NHWC per `layout`), for [`Baseline::Mean`].
pub fn channel_means(inputs: &[Tensor], layout: Layout) -> Vec<f32> {
    let Some(first) = inputs.first() else { return vec![0.0] };
    let shape = first.shape();
    if shape.len() != 4 {
        return vec![0.0];
    }
    let (c, hw) = match layout {
        Layout::Nchw => (shape[1], shape[2] * shape[3]),
        Layout::Nhwc => (shape[3], shape[1] * shape[2]),
    };
    let mut sums = vec![0.0f64; c];
    for x in inputs {
        for (i, &v) in x.iter().enumerate() {
            let ch = match layout {
                Layout::Nchw => i / hw.max(1),
                Layout::Nhwc => i % c,
            };
            if let Some(s) = sums.get_mut(ch) {
                *s += v as f64;
            }
        }
    }
    let n = (inputs.len() * hw).max(1) as f64;
    sums.iter().map(|s| (s / n) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relevance_is_kept_for_inputs_spread_over_the_set() {
        let kept = |keep: usize, n: usize| -> Vec<usize> { (0..n).filter(|&i| spread_pick(i, n, keep)).collect() };
        assert_eq!(kept(8, 113), vec![0, 14, 28, 42, 56, 70, 84, 98]);
        assert_eq!(kept(6, 4), vec![0, 1, 2, 3]);
        assert_eq!(kept(3, 10), vec![0, 3, 6]);
        assert!(kept(0, 10).is_empty());
    }

    #[test]
    fn npy_pixels_are_preprocessed() {
        let mut sc = Sidecar::default_for_input_shape(&[1, 1, 2, 2]);
        sc.input.scale = 1.0;
        sc.input.std = Some(vec![255.0]);
        let t = Tensor::from_shape_vec(ndarray::IxDyn(&[3, 2, 2]), (0..12).map(|v| v as f32).collect()).unwrap();
        // write as float: taken as preprocessed
        let bytes = crate::npy::write_npy(&t);
        let xs = inputs_from_npy(&bytes, &[1, 1, 2, 2], &sc, Some(2)).unwrap();
        assert_eq!(xs.len(), 2);
        assert_eq!(xs[1].shape(), &[1, 1, 2, 2]);
        assert_eq!(xs[1][[0, 0, 0, 0]], 4.0);
        // a uint8 file: pixels / 255
        let mut u8bytes = bytes[..bytes.len() - 48].to_vec();
        let at = u8bytes.windows(3).position(|w| w == b"<f4").unwrap();
        u8bytes[at..at + 3].copy_from_slice(b"|u1");
        u8bytes.extend(0..12u8);
        let xs = inputs_from_npy(&u8bytes, &[1, 1, 2, 2], &sc, None).unwrap();
        assert_eq!(xs.len(), 3);
        assert!((xs[2][[0, 0, 1, 1]] - 11.0 / 255.0).abs() < 1e-7);
        assert!(inputs_from_npy(&bytes, &[1, 1, 3, 3], &sc, None).is_err());
        assert_eq!(channel_means(&xs, Layout::Nchw), vec![(5.5 / 255.0) as f32]);
    }
}
