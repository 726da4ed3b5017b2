//! Reconciliation: the next request to bring the worker to the wanted state, restarting the worker
//! when its request is no longer wanted, going back to what was committed when a request fails,
//! and cancel.
use super::{Busy, Effect, ExplainKey, InFlight, Job, Outgoing, PageState, Sending, Slot};
use crate::app::protocol::{Request, Stage};

impl PageState {
    /// The next request to bring the worker to the wanted state.
    pub fn next_job(&self) -> Option<Job> {
        let model = self.desired_model.as_ref()?;
        if self.worker_model != Some(model.generation) {
            return Some(Job::LoadModel(model.generation));
        }
        let image = self.desired_image.as_ref()?;
        if self.worker_image != Some(image.generation) {
            return Some(Job::SetImage(image.generation));
        }
        let key = self.main_key()?;
        if self.main.as_ref().map(|s| &s.key) != Some(&key) && self.failed_main.as_ref() != Some(&key) {
            return Some(Job::Explain(Slot::Main, key));
        }
        for ck in self.compare_keys() {
            let shown = self.compare.iter().any(|c| c.key == ck);
            if !shown && !self.failed_compare.contains(&ck) {
                return Some(Job::Explain(Slot::Compare, ck));
            }
        }
        for fk in &self.faith_requested {
            if self.faith_wanted(fk) && !self.faith.iter().any(|f| &f.key == fk && f.complete) {
                return Some(Job::Faithfulness(fk.clone()));
            }
        }
        None
    }

    /// The job the worker is working on.
    pub fn in_flight_job(&self) -> Option<&Job> {
        self.in_flight.as_ref().map(|f| &f.job)
    }

    /// After the wanted state changed: restart the worker if its current request is no longer
    /// wanted, then send what is next.
    pub(super) fn after_change(&mut self) {
        self.notice = None;
        let wanted: Vec<ExplainKey> = self.faith_requested.iter().filter(|k| self.faith_wanted(k)).cloned().collect();
        let complete = self.faith.iter().filter(|f| f.complete).count();
        if wanted.len() < self.faith_requested.len() && complete < self.faith_requested.len() {
            self.notice = Some("Pixel flipping stopped: the maps it was measuring are no longer on show.".into());
        }
        self.faith_requested = wanted;
        if let Some(f) = &self.in_flight {
            if self.next_job().as_ref() != Some(&f.job) {
                self.restart();
            }
        }
        self.pump();
    }

    /// Starts a new worker (the glue terminates the old one).
    pub(super) fn spawn_worker(&mut self) {
        self.worker.epoch += 1;
        self.worker.ready = false;
        self.worker.alive = true;
        self.effects.push(Effect::SpawnWorker);
    }

    fn restart(&mut self) {
        self.in_flight = None;
        // the run in flight's coarse look, if any, will not be refined
        self.faith.retain(|f| f.complete);
        self.worker_model = None;
        self.worker_image = None;
        self.spawn_worker();
        self.busy = Some(Busy { stage: "restarting the engine".into(), done: 0, total: 0 });
    }

    /// Hands the next request to the glue if the worker is free.
    pub(super) fn pump(&mut self) {
        if self.in_flight.is_some() || self.sending.is_some() {
            return;
        }
        if !self.worker.ready {
            if self.next_job().is_some() && self.worker.alive {
                self.busy = Some(Busy { stage: "starting the engine".into(), done: 0, total: 0 });
            }
            return;
        }
        let Some(job) = self.next_job() else {
            self.busy = None;
            return;
        };
        let (model, image) = (self.desired_model.clone(), self.desired_image.clone());
        let (request, data, replay, stage) = match &job {
            Job::LoadModel(g) => {
                let m = model.as_ref().expect("next_job checked it");
                let request = Request::LoadModel {
                    name: m.name.clone(),
                    external: m.external.iter().map(|(name, _)| name.clone()).collect(),
                    sidecar: m.sidecar.clone(),
                    sidecar_json: m.sidecar_json.clone(),
                    labels: m.labels.clone(),
                };
                let replay = self.committed_model.as_ref().is_some_and(|c| c.generation == *g);
                let mut data = vec![m.onnx.as_ref().clone()];
                data.extend(m.external.iter().map(|(_, bytes)| bytes.clone()));
                (request, data, replay, Stage::LoadingModel.label().to_string())
            }
            Job::SetImage(g) => {
                let i = image.as_ref().expect("next_job checked it");
                let replay = self.committed_image.as_ref().is_some_and(|c| c.generation == *g);
                (
                    Request::SetImage { name: i.name.clone() },
                    vec![i.bytes.as_ref().clone()],
                    replay,
                    Stage::Preprocessing.label().to_string(),
                )
            }
            Job::Explain(_, k) => (
                Request::Explain { method: k.method, params: k.params.clone(), target: Some(k.target) },
                Vec::new(),
                false,
                Stage::Relevance.label().to_string(),
            ),
            Job::Faithfulness(k) => (
                Request::Faithfulness { method: k.method, params: k.params.clone(), target: Some(k.target) },
                Vec::new(),
                false,
                Stage::Faithfulness.label().to_string(),
            ),
        };
        self.sending = Some(Sending { job: job.clone(), model, image, replay, stage });
        self.effects.push(Effect::Send(Box::new(Outgoing { request, data, job })));
    }

    /// What became of the last [`Effect::Send`]: the request's id, or why it could not be sent.
    pub fn sent(&mut self, result: Result<u64, String>) {
        let Some(s) = self.sending.take() else { return };
        match result {
            Ok(id) => {
                self.in_flight = Some(InFlight { id, job: s.job, model: s.model, image: s.image, replay: s.replay });
                self.busy = Some(Busy { stage: s.stage, done: 0, total: 0 });
            }
            Err(e) => {
                self.error = Some(e);
                self.busy = None;
            }
        }
    }

    /// A request failed (or was cancelled, or crashed the worker): go back to what was committed.
    pub(super) fn revert(&mut self, job: &Job) {
        match job {
            Job::LoadModel(g) => {
                if self.committed_model.as_ref().is_some_and(|c| c.generation == *g) {
                    // the committed model itself failed: nothing left to restore
                    self.committed_model = None;
                    self.committed_image = None;
                }
                self.desired_model = self.committed_model.clone();
                self.desired_image = self.committed_image.clone();
                self.restore_settings();
            }
            Job::SetImage(g) => {
                if self.committed_image.as_ref().is_some_and(|c| c.generation == *g) {
                    self.committed_image = None;
                }
                self.desired_image = self.committed_image.clone();
                self.restore_settings();
            }
            Job::Explain(Slot::Main, k) => self.failed_main = Some(k.clone()),
            Job::Explain(Slot::Compare, k) => self.failed_compare.push(k.clone()),
            Job::Faithfulness(k) => {
                // a coarse look whose refinement was stopped goes too
                self.faith.retain(|f| f.complete || &f.key != k);
                self.faith_requested.clear();
            }
        }
    }

    /// The method settings of the heatmap on show (after a cancel).
    fn restore_settings(&mut self) {
        if let Some(main) = self.main.as_ref().filter(|_| self.main_ready()) {
            self.settings.method = main.key.method;
            self.settings.target = Some(main.key.target);
            self.class_text = main.key.target.to_string();
        }
    }

    /// What a job was doing, with the name of the model or image it was loading.
    pub(super) fn describe_job(&self, job: &Job) -> String {
        let named = |what: &str, name: Option<&String>| match name {
            Some(n) => format!("{what} {n}"),
            None => what.to_string(),
        };
        match job {
            Job::LoadModel(g) => {
                named("loading the model", self.desired_model.as_ref().filter(|m| m.generation == *g).map(|m| &m.name))
            }
            Job::SetImage(g) => named(
                "preparing the image",
                self.desired_image.as_ref().filter(|i| i.generation == *g).map(|i| &i.name),
            ),
            other => other.describe(),
        }
    }

    /// Stops what is running (`downloading`: the download the glue just dropped, if any). A model
    /// or image that was loading is dropped (the previous one stays); an explanation keeps the
    /// user's choice of method and class and is only not computed until "Explain again"; pixel
    /// flipping is stopped. The page says which.
    pub fn cancel(&mut self, downloading: Option<String>) {
        let job = self.in_flight.as_ref().map(|f| f.job.clone());
        let what = job.as_ref().map(|j| self.describe_job(j)).or(downloading);
        self.faith_requested.clear();
        if let Some(job) = job {
            let explain = matches!(job, Job::Explain(..));
            self.revert(&job);
            if !explain {
                self.desired_model = self.committed_model.clone();
                self.desired_image = self.committed_image.clone();
            }
            self.restart();
        }
        self.notice = what.map(|w| {
            let after = if w.starts_with("explaining") {
                " Your choice stays selected: press “Explain again” to compute it."
            } else if w.starts_with("loading") || w.starts_with("preparing") {
                " The previous model and image stay."
            } else {
                ""
            };
            format!("Cancelled: {w}.{after}")
        });
        self.pump();
    }
}
