//! The page's state machine, plain Rust (tested natively; no Yew, no web-sys). It keeps what the
//! page *wants* (a model, an image, method settings, compared methods, pixel-flipping runs) apart
//! from what the worker *holds* and what was last *committed* (loaded successfully), and decides
//! the one request to send next, so that a restarted worker (after a cancel, a crash, or a request
//! that a user action made obsolete) is brought back by replaying the model and the image, and
//! failed requests revert to the committed state.
//!
//! Every event (a user action in [`actions`], a worker event in [`answers`]) updates the state and
//! records [`Effect`]s: what the glue (`ui::app`) must do with the worker and the canvases. The glue
//! takes them with [`PageState::take_effects`] and applies them in order; for an
//! [`Effect::Send`] it tells the outcome back with [`PageState::sent`].
//!
//! - [`sources`]: the model and image sources and what the worker answered about them;
//! - [`settings`]: the method settings and parameter inputs;
//! - [`results`]: explanation keys, jobs, explanations and pixel-flipping runs as kept;
//! - [`plan`]: what to send next, restarts, reverts and cancel.
mod actions;
mod answers;
mod plan;
mod results;
mod settings;
mod sources;
#[cfg(test)]
mod tests;

pub use results::{Busy, ExplainKey, Faith, Job, Shown, Slot, Timings};
pub use settings::{normalized, param_texts, uses_stabilizer, Param, Settings, MAX_COMPARE};
pub use sources::{ImageInfo, ImageSource, LoadedInfo, ModelSource};

use crate::app::protocol::Request;
use crate::method::Method;
use std::rc::Rc;

/// The most times the worker may crash in a row before the page stops restarting it.
pub const MAX_CRASHES: u32 = 3;

/// What the glue must do, in order.
#[derive(Debug, PartialEq)]
pub enum Effect {
    /// Start a new worker (terminating the old one); its messages come with the next epoch.
    SpawnWorker,
    /// Stop the worker for good (it kept crashing).
    TerminateWorker,
    /// Send this request; then report the outcome with [`PageState::sent`].
    Send(Box<Outgoing>),
    /// The image changed (or is gone): paint [`PageState::image_info`]'s picture.
    PaintImage,
    /// The explanations changed: paint the heatmaps and the layer map again.
    Repaint,
    /// Write this to the browser console as a warning.
    Warn(String),
}

/// A request to send to the worker: the request, its byte payloads, and the job it stands for.
#[derive(Debug, PartialEq)]
pub struct Outgoing {
    pub request: Request,
    pub data: Vec<Vec<u8>>,
    pub job: Job,
}

/// What the page knows of its worker (mirrored from the glue's handle, which spawns a worker at
/// once: epoch 1).
struct WorkerState {
    /// Incremented by every spawn: messages of an older worker are ignored.
    epoch: u64,
    /// The worker has said `Ready`.
    ready: bool,
    /// A worker is running (not terminated).
    alive: bool,
}

/// The request the worker is working on.
struct InFlight {
    id: u64,
    job: Job,
    model: Option<Rc<ModelSource>>,
    image: Option<Rc<ImageSource>>,
    /// A replay of something already committed (its success does not clear the error banner).
    replay: bool,
}

/// A request handed to the glue to send, until it says whether that worked.
struct Sending {
    job: Job,
    model: Option<Rc<ModelSource>>,
    image: Option<Rc<ImageSource>>,
    replay: bool,
    stage: String,
}

/// The page's state: wanted, committed and worker-held sources, settings, results, the request in
/// flight, progress and the texts of the status region.
pub struct PageState {
    worker: WorkerState,
    in_flight: Option<InFlight>,
    sending: Option<Sending>,
    crashes: u32,
    /// What the worker said when it panicked, until its crash is handled.
    panic_message: Option<String>,
    worker_model: Option<u64>,
    worker_image: Option<u64>,
    next_generation: u64,

    desired_model: Option<Rc<ModelSource>>,
    desired_image: Option<Rc<ImageSource>>,
    committed_model: Option<Rc<ModelSource>>,
    committed_image: Option<Rc<ImageSource>>,
    model_info: Option<LoadedInfo>,
    image_info: Option<ImageInfo>,

    settings: Settings,
    param_text: [String; 5],
    class_text: String,
    failed_main: Option<ExplainKey>,
    failed_compare: Vec<ExplainKey>,
    main: Option<Shown>,
    /// Explanations of the compared methods (at most one per method).
    compare: Vec<Shown>,
    faith: Vec<Faith>,
    /// The pixel-flipping runs asked for (the maps on show when the button was pressed).
    faith_requested: Vec<ExplainKey>,
    /// The node whose layer map is shown.
    layer: Option<String>,

    busy: Option<Busy>,
    error: Option<String>,
    /// What the page did on its own or at the user's word (a cancel, a stopped run): shown in the
    /// status region until the next action.
    notice: Option<String>,
    timings: Timings,

    effects: Vec<Effect>,
}

impl Default for PageState {
    fn default() -> Self {
        PageState::new()
    }
}

impl PageState {
    /// The state of a new page, whose worker (epoch 1) is starting.
    pub fn new() -> PageState {
        let settings = Settings::default();
        let param_text = param_texts(&settings.params);
        PageState {
            worker: WorkerState { epoch: 1, ready: false, alive: true },
            in_flight: None,
            sending: None,
            crashes: 0,
            panic_message: None,
            worker_model: None,
            worker_image: None,
            next_generation: 1,
            desired_model: None,
            desired_image: None,
            committed_model: None,
            committed_image: None,
            model_info: None,
            image_info: None,
            settings,
            param_text,
            class_text: String::new(),
            failed_main: None,
            failed_compare: Vec::new(),
            main: None,
            compare: Vec::new(),
            faith: Vec::new(),
            faith_requested: Vec::new(),
            layer: None,
            busy: None,
            error: None,
            notice: None,
            timings: Timings::default(),
            effects: Vec::new(),
        }
    }

    /// What the glue must do since it last asked.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// A new generation number for a model or image source.
    pub fn new_generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    // ---- reading ------------------------------------------------------------------------------

    pub fn desired_model(&self) -> Option<&Rc<ModelSource>> {
        self.desired_model.as_ref()
    }
    pub fn desired_image(&self) -> Option<&Rc<ImageSource>> {
        self.desired_image.as_ref()
    }
    pub fn model_info(&self) -> Option<&LoadedInfo> {
        self.model_info.as_ref()
    }
    pub fn image_info(&self) -> Option<&ImageInfo> {
        self.image_info.as_ref()
    }
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    pub fn param_text(&self, p: Param) -> &str {
        &self.param_text[p.index()]
    }
    pub fn class_text(&self) -> &str {
        &self.class_text
    }
    /// The main explanation kept (of the current model and image or not: see [`Self::main_ready`]).
    pub fn main(&self) -> Option<&Shown> {
        self.main.as_ref()
    }
    pub fn faith(&self) -> &[Faith] {
        &self.faith
    }
    pub fn faith_requested(&self) -> &[ExplainKey] {
        &self.faith_requested
    }
    pub fn layer(&self) -> Option<&str> {
        self.layer.as_deref()
    }
    pub fn busy(&self) -> Option<&Busy> {
        self.busy.as_ref()
    }
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }
    pub fn timings(&self) -> &Timings {
        &self.timings
    }
    /// The worker's epoch the page listens to.
    pub fn epoch(&self) -> u64 {
        self.worker.epoch
    }

    /// Whether the worker is busy or has work waiting (downloads are the glue's).
    pub fn is_busy(&self) -> bool {
        self.in_flight.is_some() || self.busy.is_some()
    }

    /// Whether an explanation the user wants is held (cancelled or failed) until "Explain again".
    pub fn held(&self) -> bool {
        let wanted = self.main_key();
        wanted.is_some() && self.failed_main == wanted
            || self.compare_keys().iter().any(|k| self.failed_compare.contains(k))
    }

    /// Whether the main explanation is of the current model and image.
    pub fn main_ready(&self) -> bool {
        self.shown_ready(self.main.as_ref())
    }

    /// The main explanation, if it is of the current model and image.
    pub fn main_shown(&self) -> Option<&Shown> {
        self.main.as_ref().filter(|_| self.main_ready())
    }

    /// The explanation shown in compare tile `i` (of `settings.compare[i]`), if it is of the current
    /// model and image (it may be of another class or parameters: then it is stale).
    pub fn compare_shown(&self, i: usize) -> Option<&Shown> {
        let m = self.settings.compare.get(i)?;
        self.compare.iter().find(|c| c.key.method == *m).filter(|c| self.shown_ready(Some(c)))
    }

    fn shown_ready(&self, s: Option<&Shown>) -> bool {
        let (Some(s), Some(m), Some(i)) = (s, &self.model_info, &self.image_info) else { return false };
        s.key.model == m.generation && s.key.image == i.generation
    }

    /// The explanation the page wants in the main slot (known once the image is preprocessed).
    pub fn main_key(&self) -> Option<ExplainKey> {
        self.key_for(self.settings.method)
    }

    /// The explanation the page wants of `method`, with the current settings.
    pub fn key_for(&self, method: Method) -> Option<ExplainKey> {
        let m = self.desired_model.as_ref()?;
        let i = self.desired_image.as_ref()?;
        let info = self.image_info.as_ref().filter(|ii| ii.generation == i.generation)?;
        let model_ok = self.model_info.as_ref().is_some_and(|mi| mi.generation == m.generation);
        if !model_ok {
            return None;
        }
        Some(ExplainKey {
            model: m.generation,
            image: i.generation,
            method,
            params: normalized(method, &self.settings.params),
            target: self.settings.target.unwrap_or_else(|| info.predicted()),
        })
    }

    /// The explanations wanted beside the main one, in the order picked.
    pub fn compare_keys(&self) -> Vec<ExplainKey> {
        self.settings.compare.iter().filter_map(|m| self.key_for(*m)).collect()
    }

    /// The explanations on show that are the wanted ones (main first): what pixel flipping runs on.
    fn shown_keys(&self) -> Vec<ExplainKey> {
        let main = self.main_key().filter(|k| self.main.as_ref().is_some_and(|m| &m.key == k));
        let compares = self.compare_keys().into_iter().filter(|k| self.compare.iter().any(|c| &c.key == k));
        main.into_iter().chain(compares).collect()
    }

    /// Whether a pixel-flipping run for `key` is still wanted (its map is still on show).
    fn faith_wanted(&self, key: &ExplainKey) -> bool {
        self.main_key().as_ref() == Some(key) || self.compare_keys().contains(key)
    }
}
