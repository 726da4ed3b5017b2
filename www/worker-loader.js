// Starts the engine (src/app/worker.rs) in this Web Worker. trunk builds it with wasm-bindgen's
// no-modules target; the URLs are relative to this file, so the page works from any sub-path.
// The engine's WebAssembly is requested before its JavaScript glue is loaded, so the two download
// side by side instead of one after the other; wasm-bindgen takes the response's promise and
// compiles it as it streams in.
// Messages that come before the engine has started (an engine worker sends its helper worker its
// first job at once) are kept and handed to the engine's own handler once it is installed.
"use strict";
const early = [];
self.onmessage = (event) => early.push(event);
const engine = fetch("./rlrp-worker_bg.wasm");
importScripts("./rlrp-worker.js");
// The mark is for tests/e2e/bench-startup.mjs (when the engine could first take a request); a
// failure still rejects unhandled, as before, for the page to report.
wasm_bindgen({ module_or_path: engine }).then(() => {
  performance.mark("rlrp-engine-ready");
  for (const event of early.splice(0)) self.onmessage(event);
});
