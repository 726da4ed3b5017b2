//! The handle on the engine's Web Worker: spawning, sending one request at a time, terminating.
//! Which request to send next (and what to replay after a restart) is the page state's business
//! ([`crate::app::page`], applied by [`super::app`]); this module only tags everything with the
//! worker's epoch so that messages of a terminated worker are ignored.
use crate::app::protocol::{Request, Response};
use crate::app::wire;
use gloo_events::{EventListener, EventListenerOptions};
use gloo_timers::callback::Timeout;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ErrorEvent, Event, MessageEvent, Worker, WorkerOptions};
use yew::Callback;

/// What the worker said.
pub enum EngineEvent {
    Message {
        epoch: u64,
        id: u64,
        response: Box<Response>,
        data: Vec<Vec<u8>>,
    },
    /// The worker has not said `Ready` long after it was started (its WebAssembly failed to load).
    StartTimeout {
        epoch: u64,
    },
    /// The worker died (an uncaught exception or a WebAssembly trap) or could not start.
    Crashed {
        epoch: u64,
        message: String,
    },
}

/// How long a new worker may take to say `Ready`.
pub const START_TIMEOUT_MS: u32 = 90_000;

/// A running worker with its listeners and start timer; dropping it removes them.
struct Live {
    worker: Worker,
    _onmessage: EventListener,
    _onerror: EventListener,
    _start_timeout: Timeout,
}

pub struct Engine {
    live: Option<Live>,
    epoch: u64,
    next_id: u64,
    /// The worker has said `Ready`.
    pub ready: bool,
    on_event: Callback<EngineEvent>,
}

impl Engine {
    pub fn new(on_event: Callback<EngineEvent>) -> Engine {
        let mut engine = Engine { live: None, epoch: 0, next_id: 1, ready: false, on_event };
        engine.spawn();
        engine
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn alive(&self) -> bool {
        self.live.is_some()
    }

    /// Starts a new worker (the old one, if any, is terminated).
    pub fn spawn(&mut self) {
        self.terminate();
        self.epoch += 1;
        self.ready = false;
        let epoch = self.epoch;
        let cb = self.on_event.clone();
        let on_message = Rc::new(move |event: &Event| {
            let Some(event) = event.dyn_ref::<MessageEvent>() else { return };
            let ev = match wire::decode(&event.data()) {
                Ok(msg) => match serde_json::from_str::<Response>(&msg.body) {
                    Ok(response) => {
                        EngineEvent::Message { epoch, id: msg.id, response: Box::new(response), data: msg.data }
                    }
                    Err(e) => EngineEvent::Message {
                        epoch,
                        id: msg.id,
                        response: Box::new(Response::Error {
                            message: format!("unreadable reply from the engine: {e}"),
                        }),
                        data: Vec::new(),
                    },
                },
                Err(message) => {
                    EngineEvent::Message { epoch, id: 0, response: Box::new(Response::Error { message }), data: vec![] }
                }
            };
            cb.emit(ev);
        });
        let cb = self.on_event.clone();
        let on_error = Rc::new(move |event: &Event| {
            event.prevent_default();
            let message = match event.dyn_ref::<ErrorEvent>() {
                Some(e) if !e.message().is_empty() => e.message(),
                _ => "the engine's worker stopped (it could not start, or it ran out of memory)".to_string(),
            };
            cb.emit(EngineEvent::Crashed { epoch, message });
        });
        // The first worker is the one www/boot.js started with the page, if it did.
        let (worker, said) = match (epoch == 1).then(take_boot_worker).flatten() {
            Some(early) => early,
            None => match Worker::new_with_options("./worker-loader.js", &worker_options()) {
                Ok(w) => (w, Vec::new()),
                Err(e) => {
                    let message = format!("cannot start the engine's worker: {}", js_error_text(&e));
                    self.on_event.emit(EngineEvent::Crashed { epoch, message });
                    return;
                }
            },
        };
        let handler = on_message.clone();
        let onmessage = EventListener::new(&worker, "message", move |event: &Event| handler(event));
        let options = EventListenerOptions::enable_prevent_default();
        let handler = on_error.clone();
        let onerror = EventListener::new_with_options(&worker, "error", options, move |event: &Event| handler(event));
        for event in said {
            if event.type_() == "error" {
                on_error(&event)
            } else {
                on_message(&event)
            }
        }
        // A failed start inside the worker (e.g. its wasm does not load) is no error event here.
        let cb = self.on_event.clone();
        let start_timeout = Timeout::new(START_TIMEOUT_MS, move || cb.emit(EngineEvent::StartTimeout { epoch }));
        self.live = Some(Live { worker, _onmessage: onmessage, _onerror: onerror, _start_timeout: start_timeout });
    }

    /// Stops the worker at once (whatever it is computing).
    pub fn terminate(&mut self) {
        if let Some(live) = self.live.take() {
            // dropping `live` removes its listeners and cancels its start timer
            live.worker.terminate();
        }
        self.ready = false;
    }

    /// Sends a request; returns its id.
    pub fn send(&mut self, request: &Request, data: &[Vec<u8>]) -> Result<u64, String> {
        let live = self.live.as_ref().ok_or("the engine is not running")?;
        let id = self.next_id;
        self.next_id += 1;
        let body = serde_json::to_string(request).map_err(|e| format!("cannot encode the request: {e}"))?;
        let (msg, transfer) = wire::encode(id, &body, data);
        live.worker
            .post_message_with_transfer(&msg, &transfer)
            .map_err(|e| format!("cannot send to the engine: {}", js_error_text(&e)))?;
        Ok(id)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The engine worker's name: it computes pixel flipping alone on a page opened with `?helpers=0`
/// (as www/boot.js names the first one).
fn worker_options() -> WorkerOptions {
    let alone = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .is_some_and(|q| q.trim_start_matches('?').split('&').any(|p| p == "helpers=0"));
    let options = WorkerOptions::new();
    options.set_name(if alone { "rlrp-engine-alone" } else { "rlrp-engine" });
    options
}

/// The message of a JavaScript exception (or its string form).
pub fn js_error_text(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// The worker www/boot.js started with the page and the events it has sent so far (to be replayed
/// in order), once; None without boot.js or after the first call.
fn take_boot_worker() -> Option<(Worker, Vec<Event>)> {
    let boot = js_sys::Reflect::get(&js_sys::global(), &"rlrpBoot".into()).ok()?;
    let take: js_sys::Function = js_sys::Reflect::get(&boot, &"take".into()).ok()?.dyn_into().ok()?;
    let taken = take.call0(&boot).ok()?;
    let worker: Worker = js_sys::Reflect::get(&taken, &"worker".into()).ok()?.dyn_into().ok()?;
    let said: js_sys::Array = js_sys::Reflect::get(&taken, &"said".into()).ok()?.dyn_into().ok()?;
    Some((worker, said.iter().filter_map(|e| e.dyn_into::<Event>().ok()).collect()))
}
