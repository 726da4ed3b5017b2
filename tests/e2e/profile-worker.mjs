// A profiling aid, not a test: V8's sampling profiler (--prof) on the built page while the engine's
// worker computes the given methods' relevance on the default model and sample, then the worker's
// hottest functions by name.
//
//   METHODS=alphabeta,rlrp ROUNDS=2 [LINES=120] node tests/e2e/profile-worker.mjs   (after trunk build)
//
// The built .wasm has no name section (scripts/post_build.py drops it), so the names come from
// running wasm-bindgen again on cargo's output (target/wasm32-unknown-unknown/web/rlrp-worker.wasm,
// the build trunk made dist/ from); the two modules' code sections must be byte-identical, which
// this checks, or the names would be wrong. Prints `node --prof-process`'s flat and bottom-up
// profiles of the worker's isolate with `wasm-function[N]` replaced by the function's name.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { CHROMIUM, DIST, REPO, startServer, openPage, waitHeatmap, tid } from './lib.mjs';

const METHODS = (process.env.METHODS || 'alphabeta,rlrp').split(',');
const ROUNDS = Number(process.env.ROUNDS || 2);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlrp-prof-'));

// Names: wasm-bindgen again on cargo's module, checked against dist's.
const cargoWasm = path.join(REPO, 'target/wasm32-unknown-unknown/web/rlrp-worker.wasm');
const distWasm = path.join(DIST, 'rlrp-worker_bg.wasm');
execFileSync('wasm-bindgen', ['--target', 'no-modules', '--out-dir', dir, cargoWasm]);
const named = fs.readFileSync(path.join(dir, 'rlrp-worker_bg.wasm'));
const sections = (b) => {
  const out = new Map();
  let i = 8;
  const leb = () => {
    let r = 0, s = 0, x;
    do { x = b[i++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80);
    return r;
  };
  while (i < b.length) {
    const id = b[i++];
    const n = leb();
    const start = i;
    let name = String(id);
    if (id === 0) { const l = leb(); name = b.subarray(i, i + l).toString(); }
    out.set(name, b.subarray(start, start + n));
    i = start + n;
  }
  return out;
};
const namedSections = sections(named);
if (!namedSections.get('10').equals(sections(fs.readFileSync(distWasm)).get('10')))
  throw new Error(`${cargoWasm} is not the build of ${distWasm}: run trunk build --release --offline again`);
const names = new Map();
{
  const b = namedSections.get('name');
  let i = 0;
  const leb = () => {
    let r = 0, s = 0, x;
    do { x = b[i++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80);
    return r;
  };
  i = leb() + i; // skip the section's own name ("name")
  while (i < b.length) {
    const sub = b[i++];
    const size = leb();
    const end = i + size;
    if (sub === 1) {
      for (let count = leb(); count > 0; count--) {
        const index = leb();
        const len = leb();
        names.set(index, b.subarray(i, i + len).toString());
        i += len;
      }
    }
    i = end;
  }
}

// The profile.
const server = await startServer();
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', `--js-flags=--prof --logfile=${dir}/v8-%p.log`],
});
try {
  const { page } = await openPage(browser, server);
  await waitHeatmap(page, {});
  for (let round = 0; round < ROUNDS; round++) {
    for (const method of METHODS) {
      await page.selectOption(tid('method-picker'), method);
      await waitHeatmap(page, { method });
    }
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
console.log(`worker profile (${METHODS.join(', ')} × ${ROUNDS}, after the first heatmap), from ${worker}:\n`);
console.log(renamed.split('\n').filter((l) => !/^\s*$/.test(l)).slice(0, Number(process.env.LINES || 120)).join('\n'));
fs.rmSync(dir, { recursive: true, force: true });
