//! The Web Worker: receives requests, runs them on its [`Session`] and posts progress and replies.
//! Requests run one at a time; the page cancels a running one by terminating the worker and
//! starting a new one (a computation in WebAssembly cannot be interrupted from outside).
use super::protocol::{Request, Response};
use super::session::Session;
use super::wire;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

fn post(scope: &DedicatedWorkerGlobalScope, id: u64, response: &Response, data: &[Vec<u8>]) {
    let body = serde_json::to_string(response)
        .unwrap_or_else(|e| format!(r#"{{"type":"error","message":"cannot encode the reply: {e}"}}"#));
    let (msg, transfer) = wire::encode(id, &body, data);
    if let Err(e) = scope.post_message_with_transfer(&msg, &transfer) {
        web_sys::console::error_2(&"rlrp worker: cannot post".into(), &e);
    }
}

/// Installs the message handler and tells the page that the worker is ready.
pub fn start() {
    // The worker aborts on a panic (wasm32 has no unwinding on stable Rust): tell the page what
    // failed before it does, so that the page can say more than "unreachable" and restart us.
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        post(&scope, 0, &Response::Panicked { message: crate::error::panic_text(info) }, &[]);
    }));
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let session = Rc::new(RefCell::new(Session::new()));
    let handler_scope = scope.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let scope = &handler_scope;
        let msg = match wire::decode(&event.data()) {
            Ok(m) => m,
            Err(message) => return post(scope, 0, &Response::Error { message }, &[]),
        };
        let request: Request = match serde_json::from_str(&msg.body) {
            Ok(r) => r,
            Err(e) => return post(scope, msg.id, &Response::Error { message: format!("bad request: {e}") }, &[]),
        };
        let performance = scope.performance();
        let clock = || performance.as_ref().map(|p| p.now()).unwrap_or(f64::NAN);
        let mut progress = |stage, done, total| {
            post(scope, msg.id, &Response::Progress { stage, done, total }, &[]);
            true
        };
        let mut interim = |response: Response| post(scope, msg.id, &response, &[]);
        let reply = session.borrow_mut().handle_with_interim(request, msg.data, &clock, &mut progress, &mut interim);
        post(scope, msg.id, &reply.response, &reply.data);
    });
    scope.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    post(&scope, 0, &Response::Ready, &[]);
}
