// End-to-end test of offline use in headless Chromium: the service worker (www/sw.js, whose precache
// list and version scripts/post_build.py writes at build time) keeps the app shell, the JS and
// wasm, the CSS, bundle.json and the default model with its samples after one visit, so a reload
// with the network gone (browser offline AND server stopped) shows the default heatmap again; a
// bundled model that was never fetched says so instead of breaking the page.
//
//   node --test tests/e2e/offline.test.mjs   (scripts/test.sh runs it with the other e2e tests)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DIST, ARTIFACTS, APP_TIMEOUT, tid, distProblem, launch, startServer, openPage, waitHeatmap, screenshot } from './lib.mjs';

const TEST_TIMEOUT = 2 * APP_TIMEOUT + 120000;
/** A bundled model that the offline test never opens before going offline. */
const NEVER_FETCHED = 'mnist_simple_cnn_fp32_opset13';
/** A file that is not precached, which the test fetches once online to see it kept for offline use. */
const OTHER_SIDECAR = 'mnist_vgg_mini_fp32_opset13.json';

/** VERSION and PRECACHE as post_build.py wrote them into the built sw.js. */
function builtManifest() {
  const sw = fs.readFileSync(path.join(DIST, 'sw.js'), 'utf8');
  const version = sw.match(/^const VERSION = "([^"]*)";$/m)?.[1];
  const list = sw.match(/^const PRECACHE = (\[[\s\S]*?\n\]);$/m)?.[1];
  assert.ok(version && list, 'dist/sw.js holds no filled-in VERSION and PRECACHE (did post_build.py run?)');
  return { version, precache: JSON.parse(list) };
}

/** The bytes a precache URL stands for in dist/ ("./" is index.html). */
const distFile = (url) => fs.readFileSync(path.join(DIST, url === './' ? 'index.html' : url));

describe('offline after one visit (service worker, dist/ under a sub-path)', { timeout: 30 * 60000 }, () => {
  let browser;
  const problem = distProblem();

  before(async () => {
    if (problem) return;
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
  });

  test('the precache manifest lists the shell, JS, wasm, CSS and default model, with a content-hash version', () => {
    assert.equal(problem, null, problem);
    const { version, precache } = builtManifest();
    const urls = precache.map((e) => e.url);
    const bundle = JSON.parse(fs.readFileSync(path.join(DIST, 'bundle.json'), 'utf8'));
    const model = bundle.models.find((m) => m.id === bundle.default);
    const top = fs.readdirSync(DIST);
    const expected = [
      './', 'bundle.json', 'worker-loader.js',
      ...top.filter((f) => /^rlrp-(app|worker).*\.(js|wasm)$/.test(f)),
      ...top.filter((f) => f.endsWith('.css')),
      model.onnx, model.sidecar, model.labels, ...model.samples,
    ].filter(Boolean);
    assert.ok(expected.filter((u) => /^rlrp-/.test(u)).length >= 4, `the trunk build's JS and wasm: ${top}`);
    for (const url of expected) assert.ok(urls.includes(url), `${url} is not precached: ${urls}`);
    assert.ok(!urls.includes('sw.js'), 'the service worker does not precache itself');
    const others = bundle.models.filter((m) => m.id !== bundle.default).map((m) => m.onnx);
    for (const url of others) assert.ok(!urls.includes(url), `${url} (not the default model) is precached`);
    // Every entry's integrity is of the file's final bytes, and VERSION hashes them all.
    const hash = crypto.createHash('sha256');
    for (const { url, integrity } of precache) {
      const digest = crypto.createHash('sha256').update(distFile(url)).digest();
      assert.equal(integrity, 'sha256-' + digest.toString('base64'), `integrity of ${url}`);
      hash.update(`${url} ${digest.toString('hex')}\n`);
    }
    assert.equal(version, hash.digest('hex').slice(0, 16), 'VERSION is the hash of the precached files');
  });

  test('an offline reload shows the default heatmap; a never-fetched bundled model says it is not available offline', { timeout: TEST_TIMEOUT }, async () => {
    assert.equal(problem, null, problem);
    const { version, precache } = builtManifest();
    const server = await startServer();
    let context;
    try {
      const opened = await openPage(browser, server);
      context = opened.context;
      const { page, problems } = opened;
      const first = await waitHeatmap(page);

      // The service worker controls the page and its cache holds every precached file.
      await page.evaluate(() => navigator.serviceWorker.ready);
      await page.waitForFunction(() => navigator.serviceWorker.controller?.state === 'activated', null, { timeout: APP_TIMEOUT });
      const wanted = precache.map((e) => new URL(e.url, server.url).href);
      let stored;
      for (const until = Date.now() + APP_TIMEOUT; ; await page.waitForTimeout(250)) {
        stored = await page.evaluate(async () => {
          const names = (await caches.keys()).filter((n) => n.startsWith('rlrp-web-'));
          const urls = {};
          for (const n of names) urls[n] = (await (await caches.open(n)).keys()).map((r) => r.url);
          return { names, urls };
        });
        const held = stored.urls[`rlrp-web-${version}`] || [];
        if (wanted.every((u) => held.includes(u))) break;
        assert.ok(Date.now() < until, `the precache never completed: ${JSON.stringify(stored)}`);
      }
      assert.deepEqual(stored.names, [`rlrp-web-${version}`], 'one rlrp-web-* cache, named with the build version');
      assert.match(version, /^[0-9a-f]{16}$/);
      // A file outside the precache, fetched once online, is kept (runtime caching).
      const kept = `models/${OTHER_SIDECAR}`;
      assert.ok(await page.evaluate((url) => fetch(url).then((r) => r.ok), kept), `${kept} online`);

      // No network at all: the browser is offline and the server is gone.
      await context.setOffline(true);
      await server.close();
      await page.reload({ waitUntil: 'load', timeout: APP_TIMEOUT });
      const again = await waitHeatmap(page);
      await screenshot(page, 'offline-reload');
      assert.equal(again.model, first.model, 'the default model, from the cache');
      assert.equal(again.image, first.image, 'the default sample, from the cache');
      assert.equal(again.method, first.method);
      assert.equal(await page.locator(tid('error-banner')).count(), 0, 'no error banner offline');
      assert.ok(await page.evaluate(() => navigator.serviceWorker.controller !== null), 'the reloaded page is controlled');
      const offline = await page.evaluate((url) => fetch(url).then(async (r) => ({ status: r.status, json: (await r.text()).startsWith('{') })), kept);
      assert.deepEqual(offline, { status: 200, json: true }, `${kept}, fetched once online, is there offline`);

      // A bundled model never fetched: the service worker answers 503, the page says why.
      await page.selectOption(tid('model-picker'), NEVER_FETCHED);
      const banner = page.locator(tid('error-banner'));
      await banner.waitFor({ state: 'visible', timeout: APP_TIMEOUT });
      const message = (await banner.innerText()).trim();
      console.log(`offline banner: ${JSON.stringify(message)}`);
      await screenshot(page, 'offline-model-not-cached');
      assert.match(message, new RegExp(`${NEVER_FETCHED}\\.onnx`), 'the banner names the file');
      assert.match(message, /not available offline/, 'the banner says it is not available offline');
      assert.match(message, /connect once/, 'the banner says what to do');
      // The page is still there, on the default model, and usable.
      assert.ok(await page.locator(tid('drop-zone')).isVisible(), 'the page did not go blank');
      const still = await waitHeatmap(page);
      assert.equal(still.model, first.model, 'the previous model is still in use');
      assert.deepEqual(problems.console.filter((m) => !/status of 503/.test(m)), [], 'console errors');
    } finally {
      await context?.close();
      await server.close();
    }
  });
});
