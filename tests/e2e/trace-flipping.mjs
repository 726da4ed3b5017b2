// A diagnostic, not a test: where one pixel-flipping run's time goes, thread by thread, from a
// Chromium trace (node tests/e2e/trace-flipping.mjs, after trunk build; RLRP_E2E_DIST and QUERY as
// for bench-flipping.mjs). It prints the CPU each thread's tasks took during the run (the two
// workers against the page's own threads, which take cores from them), the page's main-thread work
// by kind, and each worker's tasks in order (when each began after the click, and how long it
// took): plan building, the first look's whole passes and the cropped passes show apart. The raw
// trace is kept in target/e2e-artifacts/flipping-trace.json (chrome://tracing or Perfetto read it).
// How stop 46 found that each progress report rendered the whole page (~6 ms of the main thread)
// and that each worker planned the rest of the model twice on a model's first run.
import fs from 'node:fs';
import path from 'node:path';
import { launch, startServer, openPage, waitHeatmap, tid, APP_TIMEOUT, ARTIFACTS, median } from './lib.mjs';

const CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8.execute', 'blink', 'toplevel'];
const browser = await launch();
const server = await startServer();
let trace;
let wall;
try {
  const { page } = await openPage(browser, server, { width: 1280, height: 900, query: process.env.QUERY || '' });
  await waitHeatmap(page);
  await browser.startTracing(page, { categories: CATEGORIES });
  const start = Date.now();
  await page.click(tid('faithfulness-button'));
  await page.waitForSelector(tid('faithfulness-chart') + '[data-state="ready"]', { timeout: 4 * APP_TIMEOUT });
  await page.waitForSelector(tid('progress') + '[data-busy="false"]', { timeout: 4 * APP_TIMEOUT });
  wall = Date.now() - start;
  trace = await browser.stopTracing();
} finally {
  await browser.close();
  server.close();
}
fs.mkdirSync(ARTIFACTS, { recursive: true });
fs.writeFileSync(path.join(ARTIFACTS, 'flipping-trace.json'), trace);

const events = JSON.parse(trace.toString()).traceEvents;
const threadName = new Map();
for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') threadName.set(`${e.pid}/${e.tid}`, e.args.name);
const threadOf = (e) => `${e.pid}/${e.tid}`;
const click = events.find((e) => e.name === 'EventDispatch' && e.args?.data?.type === 'click');
const t0 = click ? click.ts : Math.min(...events.filter((e) => e.ts > 0).map((e) => e.ts));
// A thread's tasks: its top-level RunTask slices (their durations are wall time, preemption included).
const tasks = new Map();
for (const e of events) {
  if (e.ph !== 'X' || e.name !== 'ThreadControllerImpl::RunTask' || e.ts < t0) continue;
  if (!tasks.has(threadOf(e))) tasks.set(threadOf(e), []);
  tasks.get(threadOf(e)).push(e);
}
const ms = (us) => (us / 1000).toFixed(0);
const workerEnd = Math.max(
  ...[...tasks].filter(([t]) => (threadName.get(t) || '').startsWith('DedicatedWorker')).flatMap(([, xs]) => xs.map((e) => e.ts + e.dur)),
);
console.log(
  `pixel flipping, first run (tracing on): the workers' last task ended ${ms(workerEnd - t0)} ms after the click (${wall} ms by Playwright's clock, whose waits poll)`,
);
console.log('\ntasks per thread during the run (ms, their wall time):');
const totals = [...tasks].map(([t, xs]) => [t, xs.reduce((s, e) => s + e.dur, 0)]).sort((a, b) => b[1] - a[1]);
for (const [t, total] of totals.slice(0, 10)) console.log(`  ${ms(total).padStart(6)}  ${threadName.get(t) || '?'} (${t})`);

const main = [...threadName].find(([, n]) => n === 'CrRendererMain')?.[0];
const byKind = new Map();
for (const e of events) {
  if (e.ph !== 'X' || threadOf(e) !== main || e.ts < t0 || !e.dur) continue;
  byKind.set(e.name, (byKind.get(e.name) || { total: 0, count: 0 }));
  byKind.get(e.name).total += e.dur;
  byKind.get(e.name).count += 1;
}
console.log("\nthe page's main thread, by kind of work (nested kinds overlap):");
for (const [name, { total, count }] of [...byKind].sort((a, b) => b[1].total - a[1].total).slice(0, 12))
  console.log(`  ${ms(total).padStart(6)} ms  ${String(count).padStart(4)} ×  ${name}`);

// The workers' passes: tasks of 5 ms and more (a pass, a plan's build), in order.
for (const [t, xs] of tasks) {
  if (!(threadName.get(t) || '').startsWith('DedicatedWorker')) continue;
  const big = xs.filter((e) => e.dur >= 5000).sort((a, b) => a.ts - b.ts);
  if (big.length === 0) continue;
  const steady = big.slice(Math.min(20, big.length - 1)).map((e) => e.dur / 1000);
  console.log(`\nworker ${t}: ${big.length} tasks of 5 ms or more, from ${ms(big[0].ts - t0)} to ${ms(big.at(-1).ts + big.at(-1).dur - t0)} ms after the click; median from the 21st on ${median(steady).toFixed(1)} ms`);
  console.log('  the first 16 (start after the click, duration, ms): ' + big.slice(0, 16).map((e) => `${ms(e.ts - t0)}+${ms(e.dur)}`).join(' '));
}
