// A benchmark, not a test: the first heatmap after navigation, in RUNS fresh browser contexts
// (cold caches), with the page's timings (load, forward, relevance, preprocessing) of each run and
// the median.   RUNS=5 [VERBOSE=1] node tests/e2e/bench-startup.mjs
//
// Every time is the page's own clock: milliseconds after navigation start (`performance.now()`,
// whose origin is the navigation), read where it happens. A script added before the page's own
// records the moment the heatmap canvas turns ready (a MutationObserver), so neither the creation
// of the tab's renderer process nor Playwright's polling is counted. VERBOSE=1 also prints every
// download's start and end (Resource Timing, the same clock) and the first heatmap's phases, which
// shows what it waits for.
import { launch, startServer, tid, watchFirstHeatmap, firstHeatmapMs } from './lib.mjs';

const server = await startServer();
const browser = await launch();
const VERBOSE = process.env.VERBOSE;
const firsts = [];

const ms = (x) => x.toFixed(0).padStart(6);
try {
  for (let run = 0; run < Number(process.env.RUNS || 5); run++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(watchFirstHeatmap);
    const page = await context.newPage();
    const workers = [];
    page.on('worker', (w) => workers.push(w));
    await page.goto(server.url);
    await page.waitForSelector(tid('heatmap-canvas') + '[data-state="ready"]', { timeout: 60000, state: 'attached' });
    const first = await firstHeatmapMs(page);
    firsts.push(first);
    const t = await page.$eval(tid('timings'), (t) => ({ ...t.dataset }));
    console.log(`run ${run}: first heatmap ${first.toFixed(0)} ms after navigation`, JSON.stringify(t));
    if (VERBOSE) {
      const nav = await page.evaluate(() => {
        const n = performance.getEntriesByType('navigation')[0];
        return { responseEnd: n.responseEnd, domContentLoaded: n.domContentLoadedEventEnd };
      });
      const resources = await page.evaluate(() =>
        performance.getEntriesByType('resource').map((r) => [r.startTime, r.responseEnd, r.name.split('/').pop()]),
      );
      console.log(`  ${ms(0)} navigation; HTML read at ${nav.responseEnd.toFixed(0)}, DOMContentLoaded at ${nav.domContentLoaded.toFixed(0)}`);
      for (const [start, end, name] of resources.sort((a, b) => a[0] - b[0])) {
        console.log(`  ${ms(start)} → ${ms(end)}  ${name}`);
      }
      // The engine's worker: its downloads and the moment its WebAssembly was ready, moved onto
      // the page's clock (both clocks count from their own origin, performance.timeOrigin).
      const pageOrigin = await page.evaluate(() => performance.timeOrigin);
      for (const w of workers) {
        const seen = await w.evaluate(() => ({
          origin: performance.timeOrigin,
          marks: performance.getEntriesByType('mark').map((m) => [m.startTime, m.name]),
          resources: performance.getEntriesByType('resource').map((r) => [r.startTime, r.responseEnd, r.name.split('/').pop()]),
        })).catch(() => null);
        if (!seen) continue;
        const shift = seen.origin - pageOrigin;
        console.log(`  ${ms(shift)}          worker started (${w.url().split('/').pop()})`);
        for (const [start, end, name] of seen.resources) console.log(`  ${ms(start + shift)} → ${ms(end + shift)}  ${name} (worker)`);
        for (const [at, name] of seen.marks) console.log(`  ${ms(at + shift)}          ${name} (worker)`);
      }
      // What the worker reports, counted back from the first heatmap: everything before it is
      // waiting (downloads, compiling the engine's WebAssembly, starting the page).
      const work = ['loadMs', 'preprocessMs', 'forwardMs', 'relevanceMs'].reduce((s, k) => s + Number(t[k] || 0), 0);
      console.log(`  worker's work ${work.toFixed(0)} ms (load + preprocessing + forward + relevance); before it ${(first - work).toFixed(0)} ms`);
    }
    await context.close();
  }
} finally {
  await browser.close();
  await server.close();
}
firsts.sort((a, b) => a - b);
console.log('median first heatmap', firsts[firsts.length >> 1].toFixed(0), 'ms after navigation;', firsts.map((f) => f.toFixed(0)).join(' '));
