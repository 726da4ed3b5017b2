// A profiling aid, not a test: V8's sampling profiler (--prof) on the built page while the engine's
// worker computes the given methods' relevance on the default model and sample, then the worker's
// hottest functions by name.
//
//   METHODS=alphabeta,rlrp ROUNDS=2 [LINES=120] node tests/e2e/profile-worker.mjs   (after trunk build)
//   (ROUNDS=0: the start-up and the first heatmap alone; IMAGES=N: then N more images, each a
//   forward pass and R-LRP, alternating between the first two samples; FLIP=1: then one pixel
//   flipping of the last heatmap; QUERY=?helpers=0: the page whose engine computes it alone)
//
// The built .wasm has no name section (scripts/post_build.py drops it), so the names come from
// running wasm-bindgen again on cargo's output (target/wasm32-unknown-unknown/web/rlrp-worker.wasm,
// the build trunk made dist/ from, built with RLRP_NO_WASM_OPT=1); the two modules' code sections must be byte-identical, which
// this checks, or the names would be wrong. Prints `node --prof-process`'s flat and bottom-up
// profiles of the worker's isolate with `wasm-function[N]` replaced by the function's name.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { DIST, REPO, APP_TIMEOUT, launch, startServer, openPage, waitHeatmap, tid } from './lib.mjs';

const METHODS = (process.env.METHODS || 'alphabeta,rlrp').split(',');
const ROUNDS = Number(process.env.ROUNDS || 2);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlrp-prof-'));

// Names: wasm-bindgen again on cargo's module, checked against dist's.
const cargoWasm = path.join(REPO, 'target/wasm32-unknown-unknown/web/rlrp-worker.wasm');
const distWasm = path.join(DIST, 'rlrp-worker_bg.wasm');
execFileSync('wasm-bindgen', ['--target', 'no-modules', '--out-dir', dir, cargoWasm]);
const named = fs.readFileSync(path.join(dir, 'rlrp-worker_bg.wasm'));
// A cursor over a wasm module's bytes: `leb()` reads an unsigned LEB128 number (the format's
// integers) at `i` and moves past it.
const cursor = (b, i = 0) => ({
  i,
  leb() {
    let r = 0, s = 0, x;
    do { x = b[this.i++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80);
    return r;
  },
});
// The module's sections by id ('10' is the code), custom ones by name.
const sections = (b) => {
  const out = new Map();
  const c = cursor(b, 8);
  while (c.i < b.length) {
    const id = b[c.i++];
    const n = c.leb();
    const start = c.i;
    let name = String(id);
    if (id === 0) { const l = c.leb(); name = b.subarray(c.i, c.i + l).toString(); }
    out.set(name, b.subarray(start, start + n));
    c.i = start + n;
  }
  return out;
};
const namedSections = sections(named);
if (!namedSections.get('10').equals(sections(fs.readFileSync(distWasm)).get('10')))
  throw new Error(`${cargoWasm} is not the build of ${distWasm}: run RLRP_NO_WASM_OPT=1 trunk build --release --offline ` +
    `again (wasm-opt rewrites the worker's code, scripts/post_build.py)`);
// Function names: the name section's subsection 1 (index → name).
const names = new Map();
{
  const b = namedSections.get('name');
  const c = cursor(b);
  c.i += c.leb(); // skip the section's own name ("name")
  while (c.i < b.length) {
    const sub = b[c.i++];
    const end = c.leb() + c.i;
    if (sub === 1) {
      for (let count = c.leb(); count > 0; count--) {
        const index = c.leb();
        const len = c.leb();
        names.set(index, b.subarray(c.i, c.i + len).toString());
        c.i += len;
      }
    }
    c.i = end;
  }
}

// The profile.
const server = await startServer();
const browser = await launch([`--js-flags=--prof --logfile=${dir}/v8-%p.log`]);
try {
  const { page } = await openPage(browser, server, { query: process.env.QUERY || '' });
  await waitHeatmap(page, {});
  const samples = await page.$$(tid('sample'));
  for (let i = 0; i < Number(process.env.IMAGES || 0) && samples.length > 1; i++) {
    const before = await page.$eval(tid('heatmap-canvas'), (c) => c.dataset.image);
    await samples[(i + 1) % 2].click();
    await page.waitForFunction(
      ([sel, before]) => {
        const c = document.querySelector(sel);
        return c && c.dataset.state === 'ready' && c.dataset.image !== before;
      },
      [tid('heatmap-canvas'), before],
      { timeout: 120000 },
    );
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const method of METHODS) {
      await page.selectOption(tid('method-picker'), method);
      await waitHeatmap(page, { method });
    }
  }
  if (process.env.FLIP) {
    await page.click(tid('faithfulness-button'));
    await page.waitForSelector(tid('faithfulness-chart') + '[data-state="ready"]', { timeout: 4 * APP_TIMEOUT });
  }
} finally {
  await browser.close();
  await server.close();
}

// The worker's isolate is the one whose log names the engine's functions most.
const logs = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) => path.join(dir, f));
const worker = logs
  .map((f) => ({ f, n: (fs.readFileSync(f, 'latin1').match(/wasm-function\[\d{4,}\]/g) || []).length }))
  .sort((a, b) => b.n - a.n)[0].f;
const report = execFileSync(process.execPath, ['--prof-process', worker], { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
const renamed = report.replace(/wasm-function\[(\d+)\]/g, (m, n) => names.get(Number(n)) || m);
console.log(`worker profile over its whole life (start-up, the first heatmap, ${process.env.IMAGES || 0} more images, then ${METHODS.join(', ')} × ${ROUNDS}), from ${worker}:\n`);
if (process.env.RLRP_PROF_SAVE) fs.writeFileSync(process.env.RLRP_PROF_SAVE, renamed);
console.log(renamed.split('\n').filter((l) => !/^\s*$/.test(l)).slice(0, Number(process.env.LINES || 120)).join('\n'));
fs.rmSync(dir, { recursive: true, force: true });
