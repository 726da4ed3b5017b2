// A benchmark, not a test: times pixel flipping in the page (node tests/e2e/bench-flipping.mjs),
// for R-LRP alone, then for three more methods compared (the random-order curve is computed once),
// then for R-LRP alone on another class of the same image (the random orders' passes kept every
// class's logit): until the first, coarse look at the curves is drawn, and until the whole run is.
// The times are the page's own (performance.now() at the click, and when the chart's attributes
// change, seen by a MutationObserver), not Playwright's, whose waiting polls every few hundred
// milliseconds. `QUERY=?helpers=0` opens the page whose engine computes alone (no helper worker).
// `JSFLAGS='--no-wasm-inlining'` (for example) starts Chromium with those V8 flags: how stop 42 found
// that V8's wasm inlining is what slowed the passes of a wasm-opt -O2 build.
// Then the peer, in the same browser (when tests/e2e/peer is installed, scripts/bench.sh): what
// the first run's forward passes would take through onnxruntime-web's forward on the same model
// file (its median times the number of passes), on one thread and on every core.
import { launch, startServer, openPage, waitHeatmap, tid, APP_TIMEOUT, median } from './lib.mjs';
import { measurePeer, peerModel, peerProblem, peerVersion } from './peer.mjs';
const browser = await launch(process.env.JSFLAGS ? ['--js-flags=' + process.env.JSFLAGS] : []);
const server = await startServer();
try {
  const { page, context } = await openPage(browser, server, { width: 1280, height: 900, query: process.env.QUERY || '' });
  await waitHeatmap(page);
  // The page records the click on the pixel-flipping button and every change of the chart's
  // state and number of curves, on its own clock.
  await page.evaluate(() => {
    const log = (window.__flipLog = []);
    document.addEventListener('click', (e) => {
      if (e.target.closest('[data-testid="faithfulness-button"]')) {
        log.push(['click', performance.now()]);
        window.__flipTotal = 0;
      }
    }, true);
    let last = '';
    new MutationObserver(() => {
      // the run's number of passes: the progress bar's largest maximum since the click
      const bar = document.querySelector('[data-testid="progress"] progress');
      if (bar) window.__flipTotal = Math.max(window.__flipTotal || 0, Number(bar.max) || 0);
      const chart = document.querySelector('[data-testid="faithfulness-chart"]');
      const now = chart ? `${chart.getAttribute('data-state')}/${chart.getAttribute('data-curves')}` : '';
      if (now !== last) log.push([now, performance.now()]);
      last = now;
    }).observe(document.body, { subtree: true, attributes: true, childList: true });
  });
  const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;
  // From the last click to the first chart state matching `re` after it.
  const since = async (re) => {
    const log = await page.evaluate(() => window.__flipLog);
    const click = log.map((e) => e[0]).lastIndexOf('click');
    const hit = log.slice(click + 1).find((e) => re.test(e[0]));
    return hit[1] - log[click][1];
  };
  const idle = () => page.waitForSelector(tid('progress') + '[data-busy="false"]', { timeout: 4 * APP_TIMEOUT });
  // One method's run: from the click until the coarse look, and until the whole curve.
  const timeOneMethod = async () => {
    await page.click(tid('faithfulness-button'));
    await page.waitForSelector(tid('faithfulness-chart') + '[data-state="ready"]', { timeout: 4 * APP_TIMEOUT });
    await idle();
    const helper = await page.$eval(tid('faithfulness-chart') + ' polyline[data-helper-passes]', (l) => l.dataset.helperPasses).catch(() => '?');
    return `first look ${secs(await since(/^coarse\//))}, complete ${secs(await since(/^ready\//))} (the helper computed ${helper} passes)`;
  };
  const first = await timeOneMethod();
  const firstMs = await since(/^ready\//);
  // The clean input's logits come with the explanation: one pass fewer than the progress counts.
  const passes = (await page.evaluate(() => window.__flipTotal)) - 1;
  console.log(`pixel flipping, R-LRP alone: ${first}, ${passes} forward passes`);
  for (const m of ['epsilon-plus-flat', 'lrp0', 'zplus']) await page.check(tid('compare-' + m));
  for (const m of ['epsilon-plus-flat', 'lrp0', 'zplus'])
    await page.waitForSelector(`${tid('compare-canvas')}[data-method="${m}"][data-state="ready"]`, { timeout: APP_TIMEOUT });
  await idle();
  await page.click(tid('faithfulness-button'));
  await page.waitForSelector(tid('faithfulness-chart') + '[data-curves="4"][data-state="ready"]', { timeout: 8 * APP_TIMEOUT });
  await idle();
  console.log(
    `pixel flipping, four methods (R-LRP's run already done): the second method's first look ${secs(await since(/\/2$/))}, all complete ${secs(await since(/^ready\/4$/))}`,
  );
  for (const m of ['epsilon-plus-flat', 'lrp0', 'zplus']) await page.uncheck(tid('compare-' + m));
  const current = await page.$eval(tid('heatmap-canvas'), (c) => c.dataset.target);
  const classes = await page.$$eval(`${tid('top5')} button[data-testid^="class-"]`, (bs) =>
    bs.map((b) => b.getAttribute('data-testid').slice('class-'.length)).filter((n) => /^\d+$/.test(n)),
  );
  const other = classes.find((n) => n !== current);
  await page.click(`${tid('top5')} ${tid('class-' + other)}`);
  await waitHeatmap(page, { target: other });
  await idle();
  console.log(`pixel flipping, R-LRP, another class (${other}) of the same image: ${await timeOneMethod()}`);
  await context.close();
  const noPeer = peerProblem();
  if (noPeer) {
    console.log(`(no peer: ${noPeer})`);
  } else {
    const { onnx, shape } = peerModel();
    for (const p of await measurePeer(browser, onnx, shape)) {
      const fwd = median(p.forward);
      console.log(
        `peer: onnxruntime-web ${peerVersion()}, ${p.threads} thread${p.threads > 1 ? 's' : ''}: forward ${fwd.toFixed(1)} ms, ` +
        `so the first run's ${passes} passes ${secs(passes * fwd)}; ours took ${(firstMs / (passes * fwd)).toFixed(2)} × that`,
      );
    }
  }
} finally {
  await browser.close();
  await server.close();
}
