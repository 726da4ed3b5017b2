// The browser benchmark's peer (tests/e2e/bench.mjs): onnxruntime-web's wasm backend runs the same
// ONNX file in the same Chromium, on a page of its own served with COOP/COEP (cross-origin isolated,
// so that onnxruntime-web may use threads). One page per thread count: onnxruntime-web fixes its
// thread pool at its first session.
//
// onnxruntime-web is installed in tests/e2e/peer by scripts/bench.sh (npm, pinned in
// tests/e2e/peer/package-lock.json); the tests never load it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DIST, REPO, defaultModel } from './lib.mjs';
import { serve } from './server.mjs';

export const ORT_DIST = path.join(REPO, 'tests/e2e/peer/node_modules/onnxruntime-web/dist');
const ORT_FILES = ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];

/** Why the peer cannot run (a sentence), or null. */
export function peerProblem() {
  const missing = ORT_FILES.filter((f) => !fs.existsSync(path.join(ORT_DIST, f)));
  return missing.length
    ? `onnxruntime-web is not installed (missing ${missing.join(', ')} in ${ORT_DIST}): run scripts/bench.sh, which installs it`
    : null;
}

/** The file the peer runs, the bundle's default model in DIST, and its input shape (from its sidecar). */
export function peerModel() {
  const def = defaultModel();
  const { width: w, height: h, channels: ch = 3, layout = 'nchw' } = JSON.parse(
    fs.readFileSync(path.join(DIST, def.sidecar), 'utf8'),
  ).input;
  return { onnx: path.join(DIST, def.onnx), shape: layout === 'nhwc' ? [1, h, w, ch] : [1, ch, h, w] };
}

export function peerVersion() {
  try {
    return JSON.parse(fs.readFileSync(path.join(ORT_DIST, '../package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}

// The peer's page: loads the model, then times `runs` forward passes after `warmup` untimed ones,
// on an input of the given shape filled with a fixed pseudo-random pattern in [-1, 1].
const PAGE = `<!doctype html><meta charset="utf-8"><title>onnxruntime-web peer</title>
<script type="module">
import * as ort from './ort.wasm.min.mjs';
window.runPeer = async ({ threads, shape, warmup, runs }) => {
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.simd = true;
  ort.env.wasm.wasmPaths = './';
  const bytes = new Uint8Array(await (await fetch('./model.onnx')).arrayBuffer());
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const loadMs = performance.now() - t0;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; data[i] = (s / 2 ** 32) * 2 - 1; }
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, shape) };
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const forward = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await session.run(feeds);
    forward.push(performance.now() - t);
  }
  await session.release();
  return { loadMs, forward, isolated: self.crossOriginIsolated, threads };
};
window.peerReady = true;
</script>`;

/**
 * Runs onnxruntime-web on `onnxPath` in `browser` with each thread count of `threadCounts` (counts
 * above 1 only when the page is cross-origin isolated). Returns [{ threads, isolated, loadMs, forward[] }].
 */
export async function measurePeer(browser, onnxPath, shape, { threadCounts = [1, os.cpus().length], warmup = 3, runs = 15 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlrp-peer-'));
  for (const f of ORT_FILES) fs.copyFileSync(path.join(ORT_DIST, f), path.join(dir, f));
  fs.copyFileSync(onnxPath, path.join(dir, 'model.onnx'));
  fs.writeFileSync(path.join(dir, 'index.html'), PAGE);
  const server = await serve(dir, '/peer/', {
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
  });
  const results = [];
  try {
    for (const threads of [...new Set(threadCounts)]) {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(server.url);
        await page.waitForFunction(() => window.peerReady === true);
        const isolated = await page.evaluate(() => self.crossOriginIsolated);
        if (threads > 1 && !isolated) continue;
        results.push(await page.evaluate((args) => window.runPeer(args), { threads, shape, warmup, runs }));
      } finally {
        await context.close();
      }
    }
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
