//! The Web Worker: receives requests, runs them on its [`Session`] and posts progress and replies.
//! Requests run one at a time; the page cancels a running one by terminating the worker and
//! starting a new one (a computation in WebAssembly cannot be interrupted from outside).
//!
//! Pixel flipping is many independent forward passes, and a browser has more than one core: the
//! engine's worker starts a helper worker of its own (the same script, named [`HELPER_NAME`]) at
//! the first pixel-flipping request. The helper takes the run's passes from the back while this
//! worker takes them from the front ([`super::flipping`]), one pass per task so that the helper's
//! answers get in; terminating this worker ends its helper too. Where no helper can start (or it
//! fails), this worker computes every pass itself. A page opened with `?helpers=0` starts the
//! engine as [`ALONE_NAME`], which never starts a helper.
use super::flipping::FlipJob;
use super::helper::Helper;
use super::progress::{ProgressThrottle, PROGRESS_EVERY_MS};
use super::protocol::{f32_values, HelperReply, HelperRequest, Request, Response, Stage};
use super::session::Session;
use super::wire;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, Event, MessageChannel, MessageEvent, MessagePort, Worker, WorkerOptions};

/// The name of the engine's helper worker.
pub const HELPER_NAME: &str = "rlrp-helper";
/// The name of an engine worker that computes alone (no helper).
pub const ALONE_NAME: &str = "rlrp-engine-alone";

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// Posts a message built by [`wire::encode`] to `target` (this worker's page, or a helper).
fn post_to(target: &JsValue, id: u64, body: &str, data: &[Vec<u8>]) {
    let (msg, transfer) = wire::encode(id, body, data);
    let sent = match target.dyn_ref::<Worker>() {
        Some(worker) => worker.post_message_with_transfer(&msg, &transfer),
        None => target.unchecked_ref::<DedicatedWorkerGlobalScope>().post_message_with_transfer(&msg, &transfer),
    };
    if let Err(e) = sent {
        web_sys::console::error_2(&"rlrp worker: cannot post".into(), &e);
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|e| format!(r#"{{"type":"error","message":"cannot encode the reply: {e}"}}"#))
}

/// Posts a response to the page.
fn post(id: u64, response: &Response, data: &[Vec<u8>]) {
    post_to(&scope().into(), id, &json(response), data)
}

/// Calls `f` again from the event loop, after what is queued (a message channel's task: no timer
/// clamping), as many times as [`Ticker::schedule`] is called.
struct Ticker {
    port: MessagePort,
}

impl Ticker {
    fn new(f: impl FnMut() + 'static) -> Option<Ticker> {
        let channel = MessageChannel::new().ok()?;
        let mut f = f;
        let on_tick = Closure::<dyn FnMut(MessageEvent)>::new(move |_: MessageEvent| f());
        channel.port1().set_onmessage(Some(on_tick.as_ref().unchecked_ref()));
        on_tick.forget();
        Some(Ticker { port: channel.port2() })
    }

    fn schedule(&self) {
        if let Err(e) = self.port.post_message(&JsValue::NULL) {
            web_sys::console::error_2(&"rlrp worker: cannot schedule".into(), &e);
        }
    }
}

/// Starts the engine (or, in a worker named [`HELPER_NAME`], a helper) and tells its parent that it
/// is ready.
pub fn start() {
    // The worker aborts on a panic (wasm32 has no unwinding on stable Rust): tell the page what
    // failed before it does, so that the page can say more than "unreachable" and restart us.
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        post(0, &Response::Panicked { message: crate::error::panic_text(info) }, &[]);
    }));
    let name = scope().name();
    if name == HELPER_NAME {
        return start_helper();
    }
    let engine = Rc::new(RefCell::new(EngineWorker {
        session: Session::new(),
        helper: HelperState::NotStarted,
        allow_helper: name != ALONE_NAME,
        flip: None,
        jobs: 0,
        ticker: None,
        scheduled: false,
        me: std::rc::Weak::new(),
    }));
    {
        let weak = Rc::downgrade(&engine);
        let mut e = engine.borrow_mut();
        e.me = weak.clone();
        e.ticker = Ticker::new(move || {
            if let Some(engine) = weak.upgrade() {
                engine.borrow_mut().tick();
            }
        });
    }
    let handler = engine.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        handler.borrow_mut().on_request(&event.data());
    });
    scope().set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    post(0, &Response::Ready, &[]);
}

/// The helper worker, as this worker knows it.
enum HelperState {
    NotStarted,
    /// Started (www/worker-loader.js keeps what it is sent until its WebAssembly has started);
    /// `has_model` is the model it was last sent.
    Running {
        worker: Worker,
        has_model: Option<u64>,
    },
    /// It could not start, or it crashed: this worker computes alone.
    Gone,
}

/// A pixel-flipping run in progress, for the page's request `request`.
struct Flip {
    request: u64,
    job_id: u64,
    job: FlipJob,
    /// Which progress reports reach the page.
    progress: ProgressThrottle,
}

struct EngineWorker {
    session: Session,
    helper: HelperState,
    allow_helper: bool,
    flip: Option<Flip>,
    /// Pixel-flipping jobs so far (numbers the helper's jobs).
    jobs: u64,
    ticker: Option<Ticker>,
    /// A tick is queued.
    scheduled: bool,
    me: std::rc::Weak<RefCell<EngineWorker>>,
}

impl EngineWorker {
    fn on_request(&mut self, data: &JsValue) {
        let msg = match wire::decode(data) {
            Ok(m) => m,
            Err(message) => return post(0, &Response::Error { message }, &[]),
        };
        let request: Request = match serde_json::from_str(&msg.body) {
            Ok(r) => r,
            Err(e) => return post(msg.id, &Response::Error { message: format!("bad request: {e}") }, &[]),
        };
        // The page sends a request only once the previous one is answered or given up on.
        self.abandon_flip();
        let performance = scope().performance();
        let clock = || performance.as_ref().map(|p| p.now()).unwrap_or(f64::NAN);
        let id = msg.id;
        let mut throttle = ProgressThrottle::new(PROGRESS_EVERY_MS);
        let mut progress = |stage, done, total| {
            if throttle.admit(stage, done, total, clock()) {
                post(id, &Response::Progress { stage, done, total }, &[]);
            }
            true
        };
        if let Request::Faithfulness { method, params, target } = &request {
            if self.ticker.is_some() {
                match self.session.flip_begin(*method, params.clone(), *target, &mut progress) {
                    Ok(job) => self.start_flip(id, job),
                    Err(e) => post(id, &Response::Error { message: e.to_string() }, &[]),
                }
                return;
            }
        }
        let mut interim = |response: Response| post(id, &response, &[]);
        let reply = self.session.handle_with_interim(request, msg.data, &clock, &mut progress, &mut interim);
        post(id, &reply.response, &reply.data);
    }

    /// Hands the helper its share of `job` (starting the helper if need be), readies this worker's
    /// forward pass meanwhile, and starts this worker's share.
    fn start_flip(&mut self, request: u64, job: FlipJob) {
        self.jobs += 1;
        let job_id = self.jobs;
        // a helper only where there is a core for it
        let cores = scope().navigator().hardware_concurrency();
        if matches!(self.helper, HelperState::NotStarted) && self.allow_helper && cores >= 2.0 {
            self.helper = self.spawn_helper();
        }
        if let HelperState::Running { has_model, .. } = &self.helper {
            match self.session.flip_helper_request(job_id, &job, *has_model) {
                Ok(Some((request, data))) => {
                    let HelperRequest::Job { model, .. } = &request else { unreachable!("a job") };
                    let model = *model;
                    self.send_helper(&request, data);
                    if let HelperState::Running { has_model, .. } = &mut self.helper {
                        *has_model = Some(model);
                    }
                }
                Ok(None) => {}
                Err(e) => web_sys::console::warn_1(&format!("rlrp: pixel flipping without a helper: {e}").into()),
            }
        }
        self.session.flip_prepare(&mut |stage, done, total| {
            post(request, &Response::Progress { stage, done, total }, &[]);
            true
        });
        let progress = ProgressThrottle::new(PROGRESS_EVERY_MS);
        self.flip = Some(Flip { request, job_id, job, progress });
        self.schedule();
    }

    fn schedule(&mut self) {
        if let Some(t) = self.ticker.as_ref().filter(|_| !self.scheduled) {
            self.scheduled = true;
            t.schedule();
        }
    }

    /// One forward pass of the run in progress (the first not done), then the answer once every
    /// pass is in.
    fn tick(&mut self) {
        self.scheduled = false;
        let Some(flip) = self.flip.as_mut() else { return };
        let id = flip.request;
        if let Some(index) = flip.job.next_front() {
            // progress at most every PROGRESS_EVERY_MS: the page repaints on each (without a
            // clock, the first report only)
            let now = scope().performance().map_or(0.0, |p| p.now());
            let (done, total) = (flip.job.done(), flip.job.total());
            if flip.progress.admit(Stage::Faithfulness, done, total, now) {
                post(id, &Response::Progress { stage: Stage::Faithfulness, done, total }, &[]);
            }
            let job = flip.job_id;
            match self.session.flip_step(&mut flip.job, index) {
                Ok(Some(first_look)) => post(id, &first_look, &[]),
                Ok(None) => {}
                Err(e) => {
                    self.abandon_flip();
                    return post(id, &Response::Error { message: e.to_string() }, &[]);
                }
            }
            // so that the helper does not compute it too
            self.send_helper(&HelperRequest::Done { job, index }, Vec::new());
        }
        self.finish_if_complete();
    }

    fn finish_if_complete(&mut self) {
        let Some(flip) = self.flip.as_ref() else { return };
        if !flip.job.is_complete() {
            return self.schedule();
        }
        let flip = self.flip.take().expect("checked");
        self.send_helper(&HelperRequest::Stop { job: flip.job_id }, Vec::new());
        let reply = match self.session.flip_end(flip.job) {
            Ok(reply) => reply.response,
            Err(e) => Response::Error { message: e.to_string() },
        };
        post(flip.request, &reply, &[]);
    }

    /// Drops the run in progress, if any, and tells the helper to stop it.
    fn abandon_flip(&mut self) {
        if let Some(flip) = self.flip.take() {
            self.send_helper(&HelperRequest::Stop { job: flip.job_id }, Vec::new());
        }
    }

    fn spawn_helper(&self) -> HelperState {
        let options = WorkerOptions::new();
        options.set_name(HELPER_NAME);
        let worker = match Worker::new_with_options("./worker-loader.js", &options) {
            Ok(w) => w,
            Err(e) => {
                let text = js_text(&e);
                web_sys::console::warn_1(&format!("rlrp: no helper worker ({text}); pixel flipping runs alone").into());
                return HelperState::Gone;
            }
        };
        let weak = self.me.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(engine) = weak.upgrade() {
                engine.borrow_mut().on_helper_message(&event.data());
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        let weak = self.me.clone();
        let on_error = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            event.prevent_default();
            if let Some(engine) = weak.upgrade() {
                engine.borrow_mut().helper_gone("it stopped (it could not start, or it ran out of memory)");
            }
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        HelperState::Running { worker, has_model: None }
    }

    fn send_helper(&mut self, request: &HelperRequest, data: Vec<Vec<u8>>) {
        if let HelperState::Running { worker, .. } = &self.helper {
            post_to(worker.as_ref(), 0, &json(request), &data);
        }
    }

    fn helper_gone(&mut self, why: &str) {
        if let HelperState::Running { worker, .. } = &self.helper {
            worker.terminate();
            web_sys::console::warn_1(
                &format!("rlrp: the helper worker is gone: {why}; pixel flipping runs alone").into(),
            );
        }
        self.helper = HelperState::Gone;
    }

    fn on_helper_message(&mut self, data: &JsValue) {
        let reply = match wire::decode(data).map(|m| (serde_json::from_str::<HelperReply>(&m.body), m.data)) {
            Ok((Ok(reply), data)) => (reply, data),
            // A panic message (the helper aborts after it) or something unreadable.
            Ok((Err(_), _)) | Err(_) => return self.helper_gone("it sent an unreadable message"),
        };
        match reply {
            (HelperReply::Ready, _) => {}
            (HelperReply::Taking { job, index }, _) => {
                if let Some(flip) = self.flip.as_mut().filter(|f| f.job_id == job) {
                    flip.job.claim(index);
                }
            }
            (HelperReply::Logits { job, index }, data) => {
                if let Some(flip) = self.flip.as_mut().filter(|f| f.job_id == job) {
                    flip.job.record(index, data.first().map(|b| f32_values(b)).unwrap_or_default(), true);
                    // the helper computes part of the coarse first look too
                    if let Some(first_look) = flip.job.take_first_look() {
                        post(flip.request, &first_look, &[]);
                    }
                }
            }
            (HelperReply::Failed { job, message }, _) => {
                // the next job sends the model again
                if let HelperState::Running { has_model, .. } = &mut self.helper {
                    *has_model = None;
                }
                if self.flip.as_ref().is_some_and(|f| f.job_id == job) {
                    web_sys::console::warn_1(
                        &format!("rlrp: the helper worker failed ({message}); this run goes on alone").into(),
                    );
                }
            }
        }
    }
}

/// The helper worker: computes the passes it is sent, one per task, and posts each one's logits.
struct HelperWorker {
    helper: Helper,
    ticker: Option<Ticker>,
    /// A tick is queued.
    scheduled: bool,
}

impl HelperWorker {
    fn post(reply: &HelperReply, data: &[Vec<u8>]) {
        post_to(&scope().into(), 0, &json(reply), data)
    }

    fn on_request(&mut self, data: &JsValue) {
        let reply = match wire::decode(data) {
            Ok(msg) => match serde_json::from_str::<HelperRequest>(&msg.body) {
                Ok(request) => self.helper.take(request, msg.data),
                Err(e) => {
                    Some((HelperReply::Failed { job: 0, message: format!("bad helper request: {e}") }, Vec::new()))
                }
            },
            Err(message) => Some((HelperReply::Failed { job: 0, message }, Vec::new())),
        };
        if let Some((reply, data)) = reply {
            Self::post(&reply, &data);
        }
        self.schedule();
    }

    /// Queues the next pass behind whatever has come in meanwhile (a stop, a new job).
    fn schedule(&mut self) {
        if self.helper.busy() && !self.scheduled {
            if let Some(t) = &self.ticker {
                self.scheduled = true;
                t.schedule();
            }
        }
    }

    fn tick(&mut self) {
        self.scheduled = false;
        // the claim goes out first: the engine's worker reads it while this pass runs
        if let Some((claim, _)) = self.helper.claim() {
            Self::post(&claim, &[]);
        }
        if let Some((reply, data)) = self.helper.step() {
            Self::post(&reply, &data);
        }
        self.schedule();
    }
}

fn start_helper() {
    let worker = Rc::new(RefCell::new(HelperWorker { helper: Helper::new(), ticker: None, scheduled: false }));
    let weak = Rc::downgrade(&worker);
    worker.borrow_mut().ticker = Ticker::new(move || {
        if let Some(w) = weak.upgrade() {
            w.borrow_mut().tick();
        }
    });
    let handler = worker.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        handler.borrow_mut().on_request(&event.data());
    });
    scope().set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    HelperWorker::post(&HelperReply::Ready, &[]);
}

/// The message of a JavaScript exception (or its string form).
fn js_text(e: &JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(err) => String::from(err.message()),
        None => e.as_string().unwrap_or_else(|| format!("{e:?}")),
    }
}
