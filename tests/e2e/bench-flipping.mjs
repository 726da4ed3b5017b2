// A benchmark, not a test: times pixel flipping in the page (node tests/e2e/bench-flipping.mjs),
// for R-LRP alone, then for three more methods compared (the random-order curve is computed once),
// then for R-LRP alone on another class of the same image (the random orders' passes kept every
// class's logit): until the first, coarse look at the curves is drawn, and until the whole run is.
import { launch, startServer, openPage, waitHeatmap, tid, APP_TIMEOUT } from './lib.mjs';
const browser = await launch();
const server = await startServer();
try {
  const { page, context } = await openPage(browser, server, { width: 1280, height: 900 });
  await waitHeatmap(page);
  const secs = (t) => `${((Date.now() - t) / 1000).toFixed(1)} s`;
  // One method's run: from the click until the coarse look, and until the whole curve.
  const timeOneMethod = async () => {
    const t = Date.now();
    await page.click(tid('faithfulness-button'));
    await page.waitForSelector(tid('faithfulness-chart') + '[data-state="coarse"]', { timeout: 4 * APP_TIMEOUT });
    const coarse = secs(t);
    await page.waitForSelector(tid('faithfulness-chart') + '[data-state="ready"]', { timeout: 4 * APP_TIMEOUT });
    return `first look ${coarse}, complete ${secs(t)}`;
  };
  console.log(`pixel flipping, R-LRP alone: ${await timeOneMethod()}`);
  for (const m of ['epsilon-plus-flat', 'lrp0', 'zplus']) await page.check(tid('compare-' + m));
  for (const m of ['epsilon-plus-flat', 'lrp0', 'zplus'])
    await page.waitForSelector(`${tid('compare-canvas')}[data-method="${m}"][data-state="ready"]`, { timeout: APP_TIMEOUT });
  await page.waitForSelector(tid('progress') + '[data-busy="false"]', { timeout: APP_TIMEOUT });
  const t = Date.now();
  await page.click(tid('faithfulness-button'));
  await page.waitForSelector(tid('faithfulness-chart') + '[data-curves="2"]', { timeout: 8 * APP_TIMEOUT });
  const second = secs(t);
  await page.waitForSelector(tid('faithfulness-chart') + '[data-curves="4"][data-state="ready"]', { timeout: 8 * APP_TIMEOUT });
  console.log(`pixel flipping, four methods (R-LRP's run already done): the second method's first look ${second}, all complete ${secs(t)}`);
  for (const m of ['epsilon-plus-flat', 'lrp0', 'zplus']) await page.uncheck(tid('compare-' + m));
  const current = await page.$eval(tid('heatmap-canvas'), (c) => c.dataset.target);
  const classes = await page.$$eval(`${tid('top5')} button[data-testid^="class-"]`, (bs) =>
    bs.map((b) => b.getAttribute('data-testid').slice('class-'.length)).filter((n) => /^\d+$/.test(n)),
  );
  const other = classes.find((n) => n !== current);
  await page.click(`${tid('top5')} ${tid('class-' + other)}`);
  await waitHeatmap(page, { target: other });
  await page.waitForSelector(tid('progress') + '[data-busy="false"]', { timeout: APP_TIMEOUT });
  console.log(`pixel flipping, R-LRP, another class (${other}) of the same image: ${await timeOneMethod()}`);
  await context.close();
} finally {
  await browser.close();
  await server.close();
}
