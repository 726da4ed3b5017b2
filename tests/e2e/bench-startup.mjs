// A benchmark, not a test: the first heatmap after navigation, in RUNS fresh browser contexts
// (cold caches), with the page's timings (load, forward, relevance, preprocessing) of each run and
// the median. VERBOSE=1 also prints every request's start and end (ms after navigation), which shows
// what the first heatmap waits for.   RUNS=5 node tests/e2e/bench-startup.mjs
import { launch, startServer, tid } from './lib.mjs';
const server = await startServer();
const browser = await launch();
const VERBOSE = process.env.VERBOSE;
const firsts = [];
try {
  for (let run = 0; run < Number(process.env.RUNS || 5); run++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const ev = [];
    const t0 = Date.now();
    const rel = () => Date.now() - t0;
    context.on('request', (r) => ev.push([rel(), 'req ', r.url().split('/').pop()]));
    context.on('requestfinished', (r) => ev.push([rel(), 'done', r.url().split('/').pop()]));
    const page = await context.newPage();
    await page.goto(server.url);
    await page.waitForSelector(tid('heatmap-canvas') + '[data-state="ready"]', { timeout: 60000, state: 'attached' });
    const first = rel();
    firsts.push(first);
    const t = await page.$eval(tid('timings'), (t) => ({ ...t.dataset }));
    console.log(`run ${run}: first heatmap ${first} ms`, JSON.stringify(t));
    if (VERBOSE) for (const e of ev) console.log(String(e[0]).padStart(6), e[1], e[2]);
    await context.close();
  }
} finally { await browser.close(); await server.close(); }
firsts.sort((a, b) => a - b);
console.log('median first heatmap', firsts[firsts.length >> 1], 'ms', firsts.join(' '));
