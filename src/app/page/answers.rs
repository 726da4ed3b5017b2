//! The worker's events: its answers (only the one to the request in flight counts; answers of an
//! older worker or request are ignored), progress (redrawn in steps), and its crashes (restarted
//! at most [`MAX_CRASHES`] times in a row).
use super::{Busy, Effect, Faith, ImageInfo, Job, LoadedInfo, PageState, Shown, Slot, Timings, MAX_CRASHES};
use crate::app::protocol::{f32_values, Response, Stage};
use std::rc::Rc;

impl PageState {
    /// The worker of `epoch` answered request `id`; returns whether the page must be redrawn.
    pub fn on_message(&mut self, epoch: u64, id: u64, response: Response, data: Vec<Vec<u8>>) -> bool {
        if epoch != self.worker.epoch {
            return false;
        }
        self.on_response(id, response, data)
    }

    /// The worker of `epoch` has not said `Ready` in time (`message` says how long it was given).
    pub fn on_start_timeout(&mut self, epoch: u64, message: String) -> bool {
        if epoch != self.worker.epoch || self.worker.ready || !self.worker.alive {
            return false;
        }
        self.crashed(message);
        true
    }

    /// The worker of `epoch` died.
    pub fn on_crash(&mut self, epoch: u64, message: String) -> bool {
        if epoch != self.worker.epoch {
            return false;
        }
        self.crashed(message);
        true
    }

    /// The worker died: say so, go back to what was committed, and start a new worker (unless it
    /// keeps dying).
    fn crashed(&mut self, message: String) {
        self.crashes += 1;
        let message = match self.panic_message.take() {
            Some(panic) => format!("the engine {panic}"),
            None => message,
        };
        let job = self.in_flight.take().map(|f| f.job);
        let during = job.as_ref().map(|j| format!(" while {}", self.describe_job(j))).unwrap_or_default();
        if let Some(job) = &job {
            self.revert(job);
        }
        self.worker_model = None;
        self.worker_image = None;
        self.effects.push(Effect::Warn(format!("rlrp: the engine crashed{during}: {message}")));
        if self.crashes > MAX_CRASHES {
            self.worker.alive = false;
            self.worker.ready = false;
            self.effects.push(Effect::TerminateWorker);
            self.busy = None;
            self.error = Some(format!(
                "The engine crashed{during}: {message}. It keeps crashing, so it was not restarted: reload the page."
            ));
        } else {
            self.error = Some(format!(
                "The engine crashed{during}: {message}. It was restarted with the previous model and image."
            ));
            self.spawn_worker();
            self.pump();
        }
    }

    fn on_response(&mut self, id: u64, response: Response, mut data: Vec<Vec<u8>>) -> bool {
        if let Response::Ready = response {
            self.worker.ready = true;
            self.pump();
            return true;
        }
        if let Response::Panicked { message } = response {
            // The crash itself follows (the worker's error event).
            self.panic_message = Some(message);
            return false;
        }
        if self.in_flight.as_ref().is_none_or(|f| f.id != id) {
            if let Response::Error { message } = response {
                self.error = Some(message);
                return true;
            }
            return false;
        }
        if let Response::Progress { stage, done, total } = response {
            let label = match (stage, total) {
                (Stage::Relevance | Stage::Faithfulness, t) if t > 1 => format!("{} {done}/{total}", stage.label()),
                _ => stage.label().to_string(),
            };
            // redraw in steps of 2 % (a relevance pass reports every node)
            let step = |d: usize, t: usize| (d * 50).checked_div(t).unwrap_or(0);
            let redraw = match &self.busy {
                Some(b) => {
                    b.stage.split(' ').next() != label.split(' ').next()
                        || b.total != total
                        || step(b.done, b.total) != step(done, total)
                }
                None => true,
            };
            self.busy = Some(Busy { stage: label, done, total });
            return redraw;
        }
        if let Response::Faithfulness { complete: false, .. } = response {
            // a coarse look at the curves: shown while the request goes on
            if let Some(Job::Faithfulness(key)) = self.in_flight.as_ref().map(|f| f.job.clone()) {
                if let Some(faith) = Faith::from_response(key, response) {
                    self.keep_faith(faith);
                    return true;
                }
            }
            return false;
        }
        let flight = self.in_flight.take().expect("checked above");
        let job = flight.job.clone();
        let mut ok = true;
        match (response, &job) {
            (Response::Error { message }, _) => {
                ok = false;
                self.revert(&job);
                self.error = Some(message);
            }
            (Response::ModelLoaded { name, info, sidecar, sidecar_source, load_ms }, Job::LoadModel(g)) => {
                let model = flight.model.clone();
                let new = self.committed_model.as_ref().is_none_or(|c| c.generation != *g);
                self.worker_model = Some(*g);
                self.worker_image = None;
                self.committed_model = model.clone();
                let user = model.as_ref().is_some_and(|m| m.bundle_id.is_none());
                self.model_info =
                    Some(LoadedInfo { generation: *g, name, user, info, sidecar, source: sidecar_source });
                self.timings.load_ms = Some(load_ms);
                if new {
                    self.committed_image = None;
                    self.image_info = None;
                    self.effects.push(Effect::PaintImage);
                    self.main = None;
                    self.compare.clear();
                    self.faith.clear();
                    self.timings = Timings { load_ms: Some(load_ms), ..Timings::default() };
                    self.effects.push(Effect::Repaint);
                }
            }
            (
                Response::ImageReady { name, width, height, top, classes, preprocess_ms, forward_ms },
                Job::SetImage(g),
            ) => {
                self.worker_image = Some(*g);
                self.committed_image = flight.image.clone();
                self.timings.preprocess_ms = Some(preprocess_ms);
                self.timings.forward_ms = Some(forward_ms);
                self.timings.relevance_ms = None;
                let rgb = if data.is_empty() { Vec::new() } else { data.swap_remove(0) };
                match image::RgbImage::from_raw(width as u32, height as u32, rgb) {
                    Some(display) => {
                        let same = self.image_info.as_ref().is_some_and(|i| i.generation == *g);
                        if !same && self.settings.target.is_none() {
                            self.class_text = top.first().map(|c| c.class.to_string()).unwrap_or_default();
                        }
                        self.image_info =
                            Some(ImageInfo { generation: *g, name, top, classes, display: Rc::new(display) });
                        if !same {
                            self.effects.push(Effect::PaintImage);
                            self.effects.push(Effect::Repaint);
                        }
                    }
                    None => {
                        ok = false;
                        self.error = Some("the engine sent a picture of the wrong size".into());
                    }
                }
            }
            (Response::Explained { report, layer_maps, .. }, Job::Explain(slot, key)) => {
                let values = data.first().map(|d| f32_values(d)).unwrap_or_default();
                let npy = data.get(1).cloned().unwrap_or_default();
                let maps: Vec<_> =
                    layer_maps.into_iter().zip(data.into_iter().skip(2)).map(|(i, d)| (i, f32_values(&d))).collect();
                let shown = Shown {
                    key: key.clone(),
                    image_name: self.image_info.as_ref().map(|i| i.name.clone()).unwrap_or_default(),
                    report,
                    values,
                    npy,
                    layer_maps: maps,
                };
                match slot {
                    Slot::Main => {
                        self.timings.relevance_ms = Some(shown.report.timings.relevance_ms);
                        self.class_text = shown.report.target.to_string();
                        let keep =
                            self.layer.as_ref().is_some_and(|l| shown.layer_maps.iter().any(|(i, _)| &i.node == l));
                        if !keep {
                            self.layer = shown.layer_maps.last().map(|(i, _)| i.node.clone());
                        }
                        self.main = Some(shown);
                    }
                    Slot::Compare => {
                        self.compare.retain(|c| c.key.method != shown.key.method);
                        self.compare.push(shown);
                    }
                }
                self.effects.push(Effect::Repaint);
            }
            (response @ Response::Faithfulness { .. }, Job::Faithfulness(key)) => {
                if let Some(faith) = Faith::from_response(key.clone(), response) {
                    self.keep_faith(faith);
                }
            }
            (other, _) => {
                ok = false;
                self.revert(&job);
                self.error = Some(format!("unexpected reply from the engine while {}: {other:?}", job.describe()));
            }
        }
        if ok {
            self.crashes = 0;
            if !flight.replay {
                self.error = None;
            }
        }
        self.busy = None;
        self.pump();
        true
    }

    /// Keeps a pixel-flipping run (coarse or complete) in place of the method's previous one.
    fn keep_faith(&mut self, faith: Faith) {
        match self.faith.iter_mut().find(|f| f.key.method == faith.key.method) {
            Some(old) => *old = faith,
            None => self.faith.push(faith),
        }
    }
}
