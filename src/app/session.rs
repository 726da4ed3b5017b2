//! The worker's state and its answer to each request: one model, one image with its forward pass,
//! and the last explanation. A failed request leaves the state as it was, so the page stays usable.
use super::flipping::FlipJob;
use super::protocol::{f32_bytes, HelperRequest, LayerMapInfo, Request, Response, SidecarSource, Stage};
use crate::error::{Error, Result};
use crate::eval::perturbation::{patch_scores, Baseline, PerturbationConfig};
use crate::explain;
use crate::forward::incremental::{spec::IncrementalSpec, IncrementalLogits};
use crate::forward::{Activations, Keep};
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
    /// Pixel flipping's logits-only forward passes (faster than the explaining pass, which keeps
    /// every activation, and cropped where consecutive inputs differ by a patch): built at the
    /// first pixel-flipping request; `Some(None)` = the model cannot be planned so (the explaining
    /// pass is used).
    logit_plan: Option<Option<IncrementalLogits>>,
}

struct CurrentImage {
    input: Preprocessed,
    acts: Activations,
    /// Pixel flipping's random-order curve of every class at once, `[step][class]` (the mean over
    /// the random orders of each step's logits): it depends on neither the method nor the class,
    /// so comparing methods, or another class of the same image, needs only the
    /// most-relevant-first curve.
    random_all_classes: Option<Vec<Vec<f32>>>,
    /// What pixel flipping replaces removed patches with, made at its first use.
    fill: std::cell::OnceCell<Tensor>,
}

impl CurrentImage {
    /// What pixel flipping replaces removed patches with (the page's baseline, of the input's shape).
    fn flip_fill(&self, sidecar: &Sidecar) -> Result<&Tensor> {
        if let Some(fill) = self.fill.get() {
            return Ok(fill);
        }
        let shape = self.input.tensor.shape();
        let fill = page_perturbation(shape, sidecar).baseline.fill(shape)?;
        Ok(self.fill.get_or_init(|| fill))
    }

    /// The cached random-order curve of `target`, if any.
    fn random_curve(&self, target: usize) -> Option<Vec<f32>> {
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
    /// Counts the models loaded: names the current one to a helper worker (which keeps a model
    /// it was sent).
    model_number: u64,
}

/// The largest model (ONNX bytes) for which pixel flipping builds its logits-only plan, which holds
/// a second copy of the weights (a wasm32 worker has 4 GB at most); larger ones flip through the
/// explaining pass.
const LOGIT_PLAN_MAX_BYTES: usize = 64 << 20;

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
            Request::LoadModel { name, external, sidecar, sidecar_json, labels } => {
                let bytes = payload("ONNX file")?;
                let mut files = Vec::with_capacity(external.len());
                for file in external {
                    files.push((payload(&format!("external data file {file}"))?, file));
                }
                // (without files, a model that needs some is refused by the load, naming them)
                let file = |location: &str| files.iter().find(|(_, n)| n == location).map(|(d, _)| d.as_slice());
                let bytes =
                    if files.is_empty() { bytes } else { crate::model::external::with_external_data(bytes, &file)? };
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
        // The first forward passes keep only what R-LRP reads (faster); the first other method plans
        // the model again from its bytes (`Session::serve`), so without them every method's plan.
        let keep = if bytes.len() <= LOGIT_PLAN_MAX_BYTES { Keep::Rlrp } else { Keep::Everything };
        let options = LoadOptions { input_shape: sidecar.as_ref().map(|s| s.input_shape()), keep };
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
        self.model_number += 1;
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
        if let Some(&bad) = m.model.logits(&acts)?.iter().find(|v| !v.is_finite()) {
            return Err(self.non_finite_output(bad, &input.tensor, acts));
        }
        let logits = m.model.logits(&acts)?;
        let top = top_k(logits, 5, Some(&m.sidecar));
        let classes = logits.len();
        let t2 = clock();
        let (width, height) = input.display.dimensions();
        let rgb = input.display.as_raw().clone();
        self.image = Some(CurrentImage { input, acts, random_all_classes: None, fill: Default::default() });
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

    /// The error for a forward pass whose output is `bad`, naming the first activation that is not
    /// finite: looked for in a forward pass that keeps every value (the model is planned so now if
    /// need be), since the plan for R-LRP alone keeps no layer's output before its activation.
    fn non_finite_output(&mut self, bad: f32, x: &Tensor, mut acts: Activations) -> Error {
        if let Some(m) = self.model.as_mut().filter(|_| acts.keep() != Keep::Everything) {
            if let Some(bytes) = m.bytes.as_deref() {
                if let Ok(wide) = m.model.keep_everything(bytes).and_then(|()| m.model.forward(x)) {
                    acts = wide;
                }
            }
        }
        let origin = self
            .model
            .as_ref()
            .and_then(|m| crate::relevance::non_finite::forward_origin(&m.model.graph, &acts))
            .map(|o| format!("; {o}"))
            .unwrap_or_default();
        Error::NonFinite(format!("the model's output is {bad} for this image{origin}"))
    }

    /// Makes the current image's forward pass keep what `method` reads: a model planned for R-LRP
    /// alone is planned again for every method (once per model), and the image's forward pass is
    /// run again through that plan.
    fn serve(&mut self, method: Method, progress: ProgressSink) -> Result<()> {
        let Some(m) = self.model.as_mut() else { return Ok(()) };
        if !m.model.serves(method) {
            if !progress(Stage::Planning, 0, 1) {
                return Err(Error::Cancelled);
            }
            let bytes = m.bytes.as_deref().ok_or_else(|| Error::Request("the model's bytes were not kept".into()))?;
            m.model.keep_everything(bytes)?;
        }
        if let Some(img) = self.image.as_mut().filter(|img| !img.acts.keep().serves(method)) {
            if !progress(Stage::Forward, 0, 1) {
                return Err(Error::Cancelled);
            }
            img.acts = m.model.forward(&img.input.tensor)?;
        }
        Ok(())
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
            self.serve(key.method, progress)?;
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
        // a wider forward plan first, if the method needs one: not relevance time
        self.serve(method, progress)?;
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
    /// are removed first, against the mean of random orders (computed once per image: their passes
    /// keep every class's logit).
    /// Both curves start at the same unperturbed input, whose logits the explanation's forward pass
    /// gave. The coarse points of the most-relevant-first curve and of the first random order go
    /// first, to `interim`; then the rest. This worker computes every pass; the worker glue shares
    /// them with a helper worker through [`Session::flip_begin`], [`Session::flip_step`] and
    /// [`Session::flip_end`].
    fn faithfulness(
        &mut self,
        method: Method,
        params: MethodParams,
        target: Option<usize>,
        progress: ProgressSink,
        interim: InterimSink,
    ) -> Result<Reply> {
        let mut job = self.flip_begin(method, params, target, progress)?;
        self.flip_prepare(progress);
        while let Some(index) = job.next_front() {
            if !progress(Stage::Faithfulness, job.done(), job.total()) {
                return Err(Error::Cancelled);
            }
            if let Some(first_look) = self.flip_step(&mut job, index)? {
                interim(first_look);
            }
        }
        self.flip_end(job)
    }

    /// Starts pixel flipping of the explanation of `method` (computed or cached) on the current
    /// image: the run's passes, none done yet. [`Session::flip_prepare`] then readies this worker's
    /// forward pass.
    pub fn flip_begin(
        &mut self,
        method: Method,
        params: MethodParams,
        target: Option<usize>,
        progress: ProgressSink,
    ) -> Result<FlipJob> {
        params.validate()?;
        let key = ExplanationKey { method, params, target };
        let relevance: Tensor = self.explanation(key, false, progress)?.relevance.clone();
        let (m, img) = (self.loaded()?, self.image()?);
        let target = target.unwrap_or_else(|| relevance::argmax(m.model.logits(&img.acts).unwrap_or(&[])));
        let input = &img.input.tensor;
        let cfg = page_perturbation(input.shape(), &m.sidecar);
        let scores = patch_scores(&relevance, cfg.patch)?;
        let classes = m.model.info.classes;
        if target >= classes {
            return Err(Error::Request(format!("class {target} does not exist: the model has {classes} classes")));
        }
        let clean = m.model.logits(&img.acts).ok();
        Ok(FlipJob::new(method, target, &cfg, &scores, img.random_curve(target), classes).with_clean_logits(clean))
    }

    /// Builds pixel flipping's logits-only forward pass at its first use (a second copy of the
    /// weights: only for models that leave the worker room for it; others flip through the
    /// explaining pass).
    pub fn flip_prepare(&mut self, progress: ProgressSink) {
        if let Some(m) = self.model.as_mut().filter(|m| m.logit_plan.is_none()) {
            progress(Stage::Faithfulness, 0, 1);
            let patch = page_perturbation(m.model.input_shape(), &m.sidecar).patch;
            let spec = IncrementalSpec::of(&m.model.graph, patch);
            m.logit_plan = Some(m.bytes.as_ref().and_then(|b| m.model.flip_passes(b, spec).ok()));
        }
    }

    /// Computes pass `index` of `job` on this worker and records it; the coarse first look, if
    /// that pass completes it.
    pub fn flip_step(&self, job: &mut FlipJob, index: usize) -> Result<Option<Response>> {
        let logits = self.flip_pass(job, index)?;
        job.record(index, logits, false);
        Ok(job.take_first_look())
    }

    /// The logits of pass `index` of `job`, through the logits-only plan (or the explaining pass,
    /// for a model without one).
    pub fn flip_pass(&self, job: &FlipJob, index: usize) -> Result<Vec<f32>> {
        let (m, img) = (self.loaded()?, self.image()?);
        let x = job.input_of(index, &img.input.tensor, img.flip_fill(&m.sidecar)?)?;
        match m.logit_plan.as_ref().and_then(|p| p.as_ref()) {
            Some(plan) => plan.run(&x),
            None => Ok(m.model.logits(&m.model.forward(&x)?)?.to_vec()),
        }
    }

    /// What a helper worker needs for `job`'s passes from the back: the request and its data
    /// (the input, the fill, and the ONNX bytes unless `helper_has` is this model's number);
    /// None where the worker does not keep the model's bytes (too large for a second copy).
    pub fn flip_helper_request(
        &self,
        job_id: u64,
        job: &FlipJob,
        helper_has: Option<u64>,
    ) -> Result<Option<(HelperRequest, Vec<Vec<u8>>)>> {
        let (m, img) = (self.loaded()?, self.image()?);
        let Some(bytes) = &m.bytes else { return Ok(None) };
        if matches!(m.logit_plan, Some(None)) {
            return Ok(None); // tract cannot plan it for logits alone
        }
        let input = &img.input.tensor;
        let mut data = vec![
            f32_bytes(input.as_slice().unwrap_or(&[])),
            f32_bytes(img.flip_fill(&m.sidecar)?.as_slice().unwrap_or(&[])),
        ];
        if helper_has != Some(self.model_number) {
            data.push(bytes.clone());
        }
        // The helper crops its passes where this worker's do: as this worker's plan says once it
        // is built, or as this worker's will (the helper is sent its job before this worker's
        // plan is built, so that both start at once).
        let spec = match &m.logit_plan {
            Some(plan) => plan.as_ref().and_then(IncrementalLogits::spec).cloned(),
            None => IncrementalSpec::of(&m.model.graph, job.patch()),
        };
        let (crop_names, crop_numbers) = spec.as_ref().map(IncrementalSpec::to_wire).unwrap_or_default();
        let request = HelperRequest::Job {
            job: job_id,
            model: self.model_number,
            input_shape: input.shape().to_vec(),
            output: m.model.info.output_name.clone(),
            classes: m.model.info.classes,
            patch: job.patch(),
            orders: job.orders().to_vec(),
            passes: job.helper_passes(),
            crop_names,
            crop_numbers,
        };
        Ok(Some((request, data)))
    }

    /// Ends pixel flipping: the answer, with the random curves kept for later runs on this image.
    pub fn flip_end(&mut self, job: FlipJob) -> Result<Reply> {
        let finished = job.finish()?;
        if let (Some(img), Some(all)) = (self.image.as_mut(), finished.random_all_classes) {
            img.random_all_classes = Some(all);
        }
        Ok(Reply::new(finished.response))
    }
}
