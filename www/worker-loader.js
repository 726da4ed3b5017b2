// Starts the engine (src/app/worker.rs) in this Web Worker. trunk builds it with wasm-bindgen's
// no-modules target; the URLs are relative to this file, so the page works from any sub-path.
importScripts("./rlrp-worker.js");
wasm_bindgen({ module_or_path: "./rlrp-worker_bg.wasm" });
