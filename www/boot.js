// Starts what the first heatmap waits for as soon as the page's HTML is read, while the page's own
// WebAssembly is still downloading and compiling:
// - the engine's Web Worker (src/app/worker.rs: its script and WebAssembly). The page takes it over
//   at start-up (src/app/ui/engine.rs, `Engine::spawn`) through `self.rlrpBoot.take()`, which hands
//   over the worker and whatever it has said so far, to be replayed;
// - the downloads of bundle.json and of the default model's files (ONNX, sidecar, labels, first
//   sample). The page's fetches (src/app/ui/net.rs) take them through `self.rlrpBoot.fetched(url)`,
//   each once; a later fetch of the same file goes to the network as usual.
// Without this file (or where `Worker` or `fetch` throw here) the page starts all of it itself.
"use strict";
(() => {
  let worker = null;
  const said = [];
  const keep = (event) => {
    if (event.type === "error") event.preventDefault(); // the page reports it when it takes over
    said.push(event);
  };
  try {
    // `?helpers=0`: the engine computes pixel flipping alone (src/app/worker.rs, ALONE_NAME)
    const alone = /[?&]helpers=0(&|$)/.test(location.search);
    worker = new Worker("./worker-loader.js", { name: alone ? "rlrp-engine-alone" : "rlrp-engine" });
    worker.addEventListener("message", keep);
    worker.addEventListener("error", keep);
  } catch (_) {
    worker = null;
  }

  const started = new Map(); // url → Promise<Response>, not yet taken by the page
  const start = (url) => {
    if (typeof url !== "string" || started.has(url)) return null;
    const response = fetch(url);
    response.catch(() => {}); // a failure is the page's to report, when it takes the response
    started.set(url, response);
    return response;
  };
  try {
    start("bundle.json")
      .then((r) => (r.ok ? r.clone().json() : null))
      .then((bundle) => {
        const model = bundle && Array.isArray(bundle.models) && bundle.models.find((m) => m && m.id === bundle.default);
        if (!model) return;
        for (const url of [model.onnx, model.sidecar, model.labels, (model.samples || [])[0]]) start(url);
      })
      .catch(() => {});
  } catch (_) {
    // no fetch here: the page fetches everything itself
  }

  self.rlrpBoot = {
    // The early worker and its events so far (message and error events), once; then null.
    take() {
      if (!worker) return null;
      const taken = { worker, said: said.splice(0) };
      worker.removeEventListener("message", keep);
      worker.removeEventListener("error", keep);
      worker = null;
      return taken;
    },
    // The response promise of a download started here, once; then undefined.
    fetched(url) {
      const response = started.get(url);
      started.delete(url);
      return response;
    },
  };
})();
