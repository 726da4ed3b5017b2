//! The worker's state and its answer to each request: one model, one image with its forward pass,
//! and the last explanation. A failed request leaves the state as it was, so the page stays usable.
use super::protocol::{f32_bytes, LayerMapInfo, Request, Response, SidecarSource, Stage};
use crate::error::{Error, Result};
use crate::eval::perturbation::{
    aopc, coarse_points, logit_fn, morf_order, patch_scores, perturbation_points, random_order,
};
use crate::eval::perturbation::{Baseline, BatchedTarget, PerturbationConfig};
use crate::explain;
use crate::forward::Activations;
use crate::forward::LogitPlan;
use crate::heatmap::channel_sum;
use crate::model::{LoadOptions, Model};
use crate::npy::write_npy;
use crate::preprocess::{preprocess_bytes, Preprocessed};
use crate::relevance::{self, Explanation, Method, MethodParams};
use crate::report::{top_k, Report};
use crate::sidecar::{parse_labels, Sidecar};
use crate::tensor::Tensor;

/// A response and its byte payloads.
pub struct Reply {
    pub response: Response,
    pub data: Vec<Vec<u8>>,
}

impl Reply {
    fn new(response: Response) -> Reply {
        Reply { response, data: Vec::new() }
    }
}

/// Milliseconds from some fixed origin (`performance.now()` in the browser).
pub type Clock<'a> = &'a dyn Fn() -> f64;
/// Progress of the current request; returning false cancels it.
pub type ProgressSink<'a> = &'a mut dyn FnMut(Stage, usize, usize) -> bool;
/// Early, partial answers to the current request (pixel flipping's coarse curves), before its reply.
pub type InterimSink<'a> = &'a mut dyn FnMut(Response);

struct LoadedModel {
    name: String,
    model: Model,
    sidecar: Sidecar,
    /// The ONNX bytes, for the logits-only plan: kept only for models up to
    /// [`LOGIT_PLAN_MAX_BYTES`] (larger ones flip through the explaining pass).
    bytes: Option<Vec<u8>>,
    /// Pixel flipping's logits-only forward pass (faster than the explaining pass, which keeps
    /// every activation): built at the first pixel-flipping request; `Some(None)` = the model
    /// cannot be planned so (the explaining pass is used).
    logit_plan: Option<Option<LogitPlan>>,
}

struct CurrentImage {
    input: Preprocessed,
    acts: Activations,
    /// Pixel flipping's random-order curve by target class: it does not depend on the method, so
    /// comparing methods computes it once.
    random_curves: Vec<(usize, Vec<f32>)>,
    /// The random-order curve of every class at once, `[step][class]` (the mean over the random
    /// orders of each step's logits), when the forward passes gave all the logits: a later class
    /// of the same image then needs only its most-relevant-first curve.
    random_all_classes: Option<Vec<Vec<f32>>>,
}

impl CurrentImage {
    /// The cached random-order curve of `target`, if any.
    fn random_curve(&self, target: usize) -> Option<Vec<f32>> {
        if let Some((_, c)) = self.random_curves.iter().find(|(t, _)| *t == target) {
            return Some(c.clone());
        }
        let all = self.random_all_classes.as_ref()?;
        all.iter().map(|step| step.get(target).copied()).collect()
    }
}

/// Which explanation is cached (so pixel flipping of the shown heatmap does not recompute it).
#[derive(PartialEq)]
struct ExplanationKey {
    method: Method,
    params: MethodParams,
    target: Option<usize>,
}

/// The worker's state.
#[derive(Default)]
pub struct Session {
    model: Option<LoadedModel>,
    image: Option<CurrentImage>,
    last: Option<(ExplanationKey, Explanation)>,
}

/// The largest model (ONNX bytes) for which pixel flipping builds its logits-only plan, which holds
/// a second copy of the weights (a wasm32 worker has 4 GB at most); larger ones flip through the
/// explaining pass.
const LOGIT_PLAN_MAX_BYTES: usize = 64 << 20;

/// Pixel flipping in the page answers first with every few steps of its curves (about this many
/// intervals: 7 of the 51 points for 50 steps, 13 of a Lite0's 151 forward passes, ~1.5 s in the
/// page after its logits-only plan is built), then with all of them.
const COARSE_INTERVALS: usize = 6;

/// Pixel flipping in the page: patches of 4 px below 64 px inputs (all of them flipped), else
/// 16 px and 50 steps (a quarter of a 224 × 224 image), against the mean of 2 random orders, so
/// that a large model answers in seconds rather than minutes (`rlrp eval` runs the full protocol).
fn page_perturbation(shape: &[usize], sidecar: &Sidecar) -> PerturbationConfig {
    let mut cfg = PerturbationConfig::for_input(shape);
    if cfg.patch > 4 {
        cfg.patch = 16;
        cfg.steps = 50;
    }
    cfg.random_orders = 2;
    cfg.baseline = Baseline::black(&sidecar.mean(), &sidecar.std());
    cfg
}

/// The random orders' mean curve of every class, `[step][class]`, from each order's logits at every
/// step (`by_order[order][step]`, step 0 being the clean input's `clean`), averaged as the target's
/// own curve is (f64 sums); None unless every step of every order has all its logits.
fn random_mean_by_class(by_order: &[Vec<Option<Vec<f32>>>], clean: Vec<f32>) -> Option<Vec<Vec<f32>>> {
    let steps = by_order.first()?.len();
    let mut mean = vec![clean];
    for k in 1..steps {
        let logits: Vec<&Vec<f32>> = by_order.iter().map(|o| o[k].as_ref()).collect::<Option<_>>()?;
        if logits.iter().any(|l| l.len() != mean[0].len()) {
            return None;
        }
        let n = logits.len() as f64;
        mean.push((0..mean[0].len()).map(|c| (logits.iter().map(|l| l[c] as f64).sum::<f64>() / n) as f32).collect());
    }
    Some(mean)
}

impl Session {
    pub fn new() -> Session {
        Session::default()
    }

    /// Answers one request. Errors become [`Response::Error`] and leave the state unchanged.
    pub fn handle(&mut self, request: Request, data: Vec<Vec<u8>>, clock: Clock, progress: ProgressSink) -> Reply {
        self.handle_with_interim(request, data, clock, progress, &mut |_| {})
    }

    /// [`Session::handle`], handing partial answers to `interim` as they come (the worker posts
    /// them; the reply still carries the whole answer).
    pub fn handle_with_interim(
        &mut self,
        request: Request,
        data: Vec<Vec<u8>>,
        clock: Clock,
        progress: ProgressSink,
        interim: InterimSink,
    ) -> Reply {
        match self.try_handle(request, data, clock, progress, interim) {
            Ok(reply) => reply,
            Err(e) => Reply::new(Response::Error { message: e.to_string() }),
        }
    }

    fn try_handle(
        &mut self,
        request: Request,
        mut data: Vec<Vec<u8>>,
        clock: Clock,
        progress: ProgressSink,
        interim: InterimSink,
    ) -> Result<Reply> {
        let mut payload = |what: &str| -> Result<Vec<u8>> {
            if data.is_empty() {
                return Err(Error::Request(format!("the request carries no {what}")));
            }
            Ok(data.remove(0))
        };
        match request {
            Request::LoadModel { name, sidecar, sidecar_json, labels } => {
                let bytes = payload("ONNX file")?;
                self.load_model(name, &bytes, sidecar, sidecar_json, labels, clock, progress)
            }
            Request::SetImage { name } => {
                let bytes = payload("image")?;
                self.set_image(name, &bytes, clock, progress)
            }
            Request::Explain { method, params, target } => self.explain(method, params, target, clock, progress),
            Request::Faithfulness { method, params, target } => {
                self.faithfulness(method, params, target, progress, interim)
            }
        }
    }

    fn loaded(&self) -> Result<&LoadedModel> {
        self.model.as_ref().ok_or_else(|| Error::Request("no model is loaded".into()))
    }

    #[allow(clippy::too_many_arguments)]
    fn load_model(
        &mut self,
        name: String,
        bytes: &[u8],
        given: Option<Sidecar>,
        sidecar_json: Option<String>,
        labels: Option<String>,
        clock: Clock,
        progress: ProgressSink,
    ) -> Result<Reply> {
        let t0 = clock();
        progress(Stage::LoadingModel, 0, 1);
        let (sidecar, source) = match (given, sidecar_json) {
            (Some(sc), _) => (Some(sc), SidecarSource::Given),
            (None, Some(json)) => (Some(Sidecar::from_json(json.as_bytes())?), SidecarSource::File),
            (None, None) => (None, SidecarSource::Defaults),
        };
        if let Some(sc) = &sidecar {
            sc.validate()?;
        }
        let options = LoadOptions { input_shape: sidecar.as_ref().map(|s| s.input_shape()) };
        let model = Model::from_onnx_bytes(bytes, &options)?;
        let mut sidecar = sidecar.unwrap_or_else(|| Sidecar::default_for_input_shape(model.input_shape()));
        if let Some(text) = labels {
            sidecar.labels = Some(parse_labels(text.as_bytes())?);
        }
        let info = model.info.clone();
        progress(Stage::LoadingModel, 1, 1);
        // Only now, with everything valid, does the new model replace the old one.
        self.model = Some(LoadedModel {
            name: name.clone(),
            model,
            sidecar: sidecar.clone(),
            bytes: (bytes.len() <= LOGIT_PLAN_MAX_BYTES).then(|| bytes.to_vec()),
            logit_plan: None,
        });
        self.image = None;
        self.last = None;
        Ok(Reply::new(Response::ModelLoaded { name, info, sidecar, sidecar_source: source, load_ms: clock() - t0 }))
    }

    fn set_image(&mut self, name: String, bytes: &[u8], clock: Clock, progress: ProgressSink) -> Result<Reply> {
        let m = self.loaded()?;
        progress(Stage::Preprocessing, 0, 1);
        let t0 = clock();
        let input = preprocess_bytes(bytes, &m.sidecar)?;
        let t1 = clock();
        progress(Stage::Forward, 0, 1);
        let acts = m.model.forward(&input.tensor)?;
        let logits = m.model.logits(&acts)?;
        if let Some(bad) = logits.iter().find(|v| !v.is_finite()) {
            let origin = crate::relevance::non_finite::forward_origin(&m.model.graph, &acts)
                .map(|o| format!("; {o}"))
                .unwrap_or_default();
            return Err(Error::NonFinite(format!("the model's output is {bad} for this image{origin}")));
        }
        let top = top_k(logits, 5, Some(&m.sidecar));
        let classes = logits.len();
        let t2 = clock();
        let (width, height) = input.display.dimensions();
        let rgb = input.display.as_raw().clone();
        self.image = Some(CurrentImage { input, acts, random_curves: Vec::new(), random_all_classes: None });
        self.last = None;
        Ok(Reply {
            response: Response::ImageReady {
                name,
                width: width as usize,
                height: height as usize,
                top,
                classes,
                preprocess_ms: t1 - t0,
                forward_ms: t2 - t1,
            },
            data: vec![rgb],
        })
    }

    fn image(&self) -> Result<&CurrentImage> {
        self.image.as_ref().ok_or_else(|| Error::Request("no image is loaded".into()))
    }

    /// The explanation of the current image, computed or cached.
    fn explanation(
        &mut self,
        key: ExplanationKey,
        keep_layer_maps: bool,
        progress: ProgressSink,
    ) -> Result<&Explanation> {
        let cached =
            self.last.as_ref().is_some_and(|(k, e)| *k == key && (!keep_layer_maps || !e.layer_maps.is_empty()));
        if !cached {
            let m = self.loaded()?;
            let img = self.image()?;
            let mut options = explain::options_for(key.target, key.params.clone(), Some(&m.sidecar));
            options.keep_layer_maps = keep_layer_maps;
            let e = relevance::explain(&m.model, &img.acts, key.method, &options, &mut |done, total| {
                progress(Stage::Relevance, done, total)
            })?;
            self.last = Some((key, e));
        }
        Ok(&self.last.as_ref().expect("just set").1)
    }

    fn explain(
        &mut self,
        method: Method,
        params: MethodParams,
        target: Option<usize>,
        clock: Clock,
        progress: ProgressSink,
    ) -> Result<Reply> {
        params.validate()?;
        let t0 = clock();
        let key = ExplanationKey { method, params: params.clone(), target };
        self.last = None;
        self.explanation(key, true, progress)?;
        let relevance_ms = clock() - t0;
        let (m, img) = (self.loaded()?, self.image()?);
        let e = &self.last.as_ref().expect("just computed").1;
        let opts = explain::options_for(target, params, Some(&m.sidecar));
        let mut report = Report::new(&m.name, &m.model, &img.acts, e, Some(&m.sidecar), &opts.params)?;
        report.timings.relevance_ms = relevance_ms;
        let (height, width, values) = channel_sum(&e.relevance, m.sidecar.input.layout);
        let mut data = vec![f32_bytes(&values), write_npy(&e.relevance)];
        let mut layer_maps = Vec::new();
        for (node, label, h, w, map) in &e.layer_maps {
            layer_maps.push(LayerMapInfo { node: node.clone(), label: label.clone(), height: *h, width: *w });
            data.push(f32_bytes(map));
        }
        Ok(Reply { response: Response::Explained { report, width, height, layer_maps }, data })
    }

    /// Pixel flipping of the explanation `key` names: the target logit as the most relevant patches
    /// are removed first, against the mean of random orders (computed once per target class).
    /// Both curves start at the same unperturbed input, measured once. The coarse points of the
    /// most-relevant-first curve and of the first random order go first, to `interim`; then the
    /// rest.
    fn faithfulness(
        &mut self,
        method: Method,
        params: MethodParams,
        target: Option<usize>,
        progress: ProgressSink,
        interim: InterimSink,
    ) -> Result<Reply> {
        params.validate()?;
        let key = ExplanationKey { method, params, target };
        let relevance: Tensor = self.explanation(key, false, progress)?.relevance.clone();
        if let Some(m) = self.model.as_mut().filter(|m| m.logit_plan.is_none()) {
            progress(Stage::Faithfulness, 0, 1);
            // a second copy of the weights: only for models that leave the worker room for it
            m.logit_plan = Some(m.bytes.as_ref().and_then(|b| m.model.logit_plan(b, 1).ok()));
        }
        let (target, patch, patches, steps, morf, random, random_all_classes) = {
            let (m, img) = (self.loaded()?, self.image()?);
            let target = target.unwrap_or_else(|| relevance::argmax(m.model.logits(&img.acts).unwrap_or(&[])));
            let input = &img.input.tensor;
            let cfg = page_perturbation(input.shape(), &m.sidecar);
            let scores = patch_scores(&relevance, cfg.patch)?;
            let steps = cfg.steps.min(scores.len());
            let cached = img.random_curve(target);
            let random_orders: Vec<Vec<usize>> = match cached {
                Some(_) => Vec::new(),
                None => (0..cfg.random_orders).map(|r| random_order(scores.len(), cfg.seed, r as u64)).collect(),
            };
            let total = 1 + (1 + random_orders.len()) * steps;
            let mut done = 0;
            let plan = m.logit_plan.as_ref().and_then(|p| p.as_ref());
            let mut full_pass = logit_fn(&m.model, target);
            // Every logit of each pass through the logit plan, in order (for the random orders'
            // curves of every class).
            let all_logits: std::cell::RefCell<Vec<Vec<f32>>> = Default::default();
            let mut counted = |x: &Tensor| -> Result<f32> {
                if !progress(Stage::Faithfulness, done, total) {
                    return Err(Error::Cancelled);
                }
                done += 1;
                match plan {
                    Some(plan) => {
                        let logits = plan.run(std::slice::from_ref(x))?.swap_remove(0);
                        let value = BatchedTarget::pick(&logits, target)?;
                        all_logits.borrow_mut().push(logits);
                        Ok(value)
                    }
                    None => full_pass(x),
                }
            };
            let coarse = coarse_points(steps, COARSE_INTERVALS);
            let fine: Vec<usize> = (1..=steps).filter(|k| !coarse.contains(k)).collect();
            let every: Vec<usize> = (1..=steps).collect();
            // curves[0] = most relevant first, then the random orders; all start at f(x⁰)
            let orders: Vec<Vec<usize>> = std::iter::once(morf_order(&scores)).chain(random_orders).collect();
            let start = counted(input)?;
            let clean_logits = all_logits.borrow_mut().pop();
            let mut curves = vec![vec![start; steps + 1]; orders.len()];
            // [curve][step]: every logit, for the random orders (curves 1…), where the plan gave them
            let mut every_logit: Vec<Vec<Option<Vec<f32>>>> = vec![vec![None; steps + 1]; orders.len()];
            let mut measure = |curves: &mut [Vec<f32>], curve: usize, points: &[usize]| -> Result<()> {
                all_logits.borrow_mut().clear();
                let values = perturbation_points(&mut counted, input, &orders[curve], &cfg, points)?;
                let mut logged = std::mem::take(&mut *all_logits.borrow_mut());
                if curve == 0 || logged.len() != points.len() {
                    logged.clear();
                }
                let mut logged = logged.into_iter();
                for (&k, v) in points.iter().zip(values) {
                    curves[curve][k] = v;
                    every_logit[curve][k] = logged.next();
                }
                Ok(())
            };
            let first_random = orders.len().min(2);
            for curve in 0..first_random {
                measure(&mut curves, curve, &coarse[1..])?;
            }
            if !fine.is_empty() {
                let at = |curve: &[f32]| coarse.iter().map(|&k| curve[k]).collect::<Vec<f32>>();
                let morf = at(&curves[0]);
                let random = match (&cached, curves.get(1)) {
                    (Some(curve), _) | (None, Some(curve)) => at(curve),
                    (None, None) => Vec::new(),
                };
                interim(Response::Faithfulness {
                    method,
                    target,
                    patch: cfg.patch,
                    patches: scores.len(),
                    steps,
                    points: coarse.clone(),
                    complete: false,
                    aopc_morf: aopc(&morf),
                    aopc_random: aopc(&random),
                    morf,
                    random,
                });
            }
            for curve in 0..orders.len() {
                measure(&mut curves, curve, if curve < first_random { &fine } else { &every })?;
            }
            let random_all_classes = match (&cached, clean_logits) {
                (None, Some(clean)) if orders.len() > 1 => random_mean_by_class(&every_logit[1..], clean),
                _ => None,
            };
            let random = match cached {
                Some(curve) => curve,
                None => (0..=steps)
                    .map(|k| (curves[1..].iter().map(|c| c[k] as f64).sum::<f64>() / (curves.len() - 1) as f64) as f32)
                    .collect(),
            };
            (target, cfg.patch, scores.len(), steps, curves.swap_remove(0), random, random_all_classes)
        };
        if let Some(img) = self.image.as_mut() {
            if random_all_classes.is_some() {
                img.random_all_classes = random_all_classes;
            }
            // only where the curves of every class are not kept (a model without a logit plan)
            if img.random_curve(target).is_none() {
                img.random_curves.push((target, random.clone()));
            }
        }
        Ok(Reply::new(Response::Faithfulness {
            method,
            target,
            patch,
            patches,
            steps,
            points: (0..=steps).collect(),
            complete: true,
            aopc_morf: aopc(&morf),
            aopc_random: aopc(&random),
            morf,
            random,
        }))
    }
}
