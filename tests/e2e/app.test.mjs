// End-to-end tests of the built page (dist/, a trunk build) in headless Chromium, against the
// data-testid contract of the page. The page is served from a sub-path of a local server to prove
// that it uses relative URLs only. Screenshots go to target/e2e-artifacts/.
//
//   node --test tests/e2e/*.test.mjs   (scripts/test.sh runs it after `trunk build --release --offline`)
//   RLRP_E2E_DIST=/tmp/other-dist node --test tests/e2e/*.test.mjs
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import {
  REPO, DIST, ARTIFACTS, APP_TIMEOUT, DEFAULT_MODEL, tid, browserSuite, collectCsp,
  waitHeatmap, dropFiles, canvasPixels, decodePng, pixelDiff, screenshot, sharedFile,
} from './lib.mjs';

const TEST_TIMEOUT = APP_TIMEOUT + 120000;

// Heatmap pixels, page (wasm32 + simd128) vs command line (native), for the same model, image and
// method, in the page's default view (the heatmap alone, auto contrast; the CLI's --contrast auto).
// Both paint with rlrp::heatmap::paint, so differences come only from float rounding:
// the kernels sum in another order with simd128 than natively, which moves the relevance by ~1e-6
// relative and can push a pixel across a rounding boundary of the 8-bit colour (or move the
// 99.5-percentile clip value a hair). Colour is continuous in the relevance, so no pixel can jump far.
// Measured (Lite0 int8 weight-only, 224x224 = 50176 pixels, Chromium 156, 2026-11-27): R-LRP and
// EpsilonPlusFlat on astronaut, chelsea, coffee, rocket: max 1 level, at most 3 pixels differ at
// all; even the float32-ill-conditioned gradient: max 4 levels, 172 pixels differ, 9 by > 2 levels.
// Thresholds leave a wide margin above R-LRP's measurements and still catch any real difference
// (another clip value, colormap, opacity, crop or class changes thousands of pixels by tens of levels).
const PIXEL_LEVELS = 2; // a pixel "differs" when a channel moves by more than this many levels
const MAX_SHARE_DIFFERING = 0.001; // at most 0.1 % of the pixels (50) may differ by more than PIXEL_LEVELS
const MAX_ABS_DIFF = 8; // no channel of any pixel moves by more than this
const MAX_MEAN_DIFF = 0.05; // mean absolute difference over all RGB channels, in levels

describe('rlrp-web page (dist/ under a sub-path, headless Chromium)', { timeout: 30 * 60000 }, () => {
  const suite = browserSuite();
  const { problem, ready } = suite;

  test('a. the default sample shows a heatmap, with no console error, CSP violation or foreign request', { timeout: TEST_TIMEOUT }, async () => {
    const { context, page, problems, first } = await ready();
    try {
      await screenshot(page, 'a-default-sample');
      assert.equal(first.method, 'rlrp', 'the default method');
      assert.ok(first.image, 'data-image names the sample');
      assert.equal(first.width, 224);
      assert.equal(first.height, 224);
      // Give late messages (service worker registration, worker errors) a moment.
      await page.waitForTimeout(1000);
      await collectCsp(page, problems);
      assert.deepEqual(problems.console, [], 'console errors');
      assert.deepEqual(problems.csp, [], 'CSP violations');
      assert.deepEqual(problems.foreign, [], 'requests to other hosts than the local server');
      const bad = suite.server().requests.filter((r) => r.status !== 200);
      assert.deepEqual(bad, [], 'failed requests (all URLs must be relative to the sub-path)');
      // The page took over the worker and the downloads www/boot.js started (none is left to take).
      const left = await page.evaluate(() => ({
        worker: self.rlrpBoot.take(),
        bundle: self.rlrpBoot.fetched('bundle.json') ?? null,
        model: self.rlrpBoot.fetched('models/efficientnet_lite0_int8_weightonly_dq.onnx') ?? null,
      }));
      assert.deepEqual(left, { worker: null, bundle: null, model: null }, 'what boot.js started and the page did not take');
    } finally {
      await context.close();
    }
  });

  test('a2. without www/boot.js the page starts its worker and downloads itself', { timeout: TEST_TIMEOUT }, async () => {
    if (problem) throw new Error(problem);
    const context = await suite.browser().newContext({ viewport: { width: 1280, height: 900 } });
    try {
      await context.route('**/boot.js', (route) =>
        route.fulfill({ status: 200, contentType: 'text/javascript', body: '// (empty: no early start)' }));
      const page = await context.newPage();
      const errors = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(suite.server().url);
      const first = await waitHeatmap(page);
      assert.equal(first.method, 'rlrp');
      assert.equal(await page.evaluate(() => typeof self.rlrpBoot), 'undefined');
      assert.deepEqual(errors, [], 'console errors');
    } finally {
      await context.close();
    }
  });

  test('b. a dropped astronaut.png gives the same heatmap pixels as the native CLI; Save heatmap gives those pixels as a PNG', { timeout: TEST_TIMEOUT }, async () => {
    const targetDir = process.env.CARGO_TARGET_DIR
      ? path.resolve(REPO, process.env.CARGO_TARGET_DIR)
      : path.join(REPO, 'target');
    const cli = process.env.RLRP_CLI || path.join(targetDir, 'debug/rlrp');
    assert.ok(fs.existsSync(cli), `${cli} is missing: build it with \`cargo build --bin rlrp\``);
    const cliPng = path.join(ARTIFACTS, 'astronaut_cli.png');
    const json = execFileSync(
      cli,
      ['explain', '--model', DEFAULT_MODEL, '--image', path.join('..', 'shared', 'images', 'astronaut.png'),
        '--method', 'rlrp', '--contrast', 'auto', '--out', cliPng, '--json'],
      { cwd: REPO, encoding: 'utf8', env: { ...process.env } },
    );
    const cliReport = JSON.parse(json);

    const { context, page, problems } = await ready();
    try {
      await dropFiles(page, tid('drop-zone'), [{ name: 'astronaut.png', type: 'image/png', bytes: sharedFile('images/astronaut.png') }]);
      const h = await waitHeatmap(page, { image: 'astronaut.png', method: 'rlrp' });
      await screenshot(page, 'b-astronaut-dropped');
      assert.equal(Number(h.target), cliReport.target, 'the explained class (the predicted one) as the CLI');
      const web = await canvasPixels(page, tid('heatmap-canvas'));
      fs.writeFileSync(path.join(ARTIFACTS, 'astronaut_page.rgba'), web.data);
      const native = await decodePng(suite.browser(), cliPng);
      const d = pixelDiff(web, native, PIXEL_LEVELS);
      const any = pixelDiff(web, native, 0).over;
      const line =
        `heatmap page vs CLI (astronaut.png, ${web.width}x${web.height}): max |diff| ${d.max} levels, ` +
        `mean ${d.mean.toFixed(5)}, pixels differing at all: ${any}, by more than ${PIXEL_LEVELS} levels: ` +
        `${d.over} (${(100 * d.share).toFixed(3)} %)`;
      console.log(line);
      fs.writeFileSync(path.join(ARTIFACTS, 'astronaut_diff.txt'), line + '\n');
      assert.ok(d.share <= MAX_SHARE_DIFFERING, line);
      assert.ok(d.mean <= MAX_MEAN_DIFF, line);
      assert.ok(d.max <= MAX_ABS_DIFF, line);

      // "Save heatmap (.png)": a PNG (the browser encodes it) named after image, method and class,
      // whose pixels are the heatmap canvas's exactly.
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(tid('download-png'))]);
      assert.equal(download.suggestedFilename(), `astronaut_rlrp_class${h.target}.png`);
      const saved = path.join(ARTIFACTS, 'astronaut_saved.png');
      await download.saveAs(saved);
      assert.deepEqual([...fs.readFileSync(saved).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
      const savedPixels = await decodePng(suite.browser(), saved);
      assert.deepEqual([savedPixels.width, savedPixels.height], [web.width, web.height], 'the saved PNG\'s size');
      assert.equal(pixelDiff(web, savedPixels, 0).over, 0, 'the saved PNG has the pixels of the canvas');
      assert.deepEqual(problems.console, [], 'console errors');
    } finally {
      await context.close();
    }
  });

  test('c. a corrupt ONNX shows the error banner; a later image is still explained', { timeout: TEST_TIMEOUT }, async () => {
    const { context, page, first } = await ready();
    try {
      const model = fs.readFileSync(path.join(REPO, DEFAULT_MODEL));
      const broken = model.subarray(0, Math.floor(model.length * 0.3));
      await dropFiles(page, tid('drop-zone'), [{ name: 'broken.onnx', type: 'application/octet-stream', bytes: broken }]);
      const banner = page.locator(tid('error-banner'));
      await banner.waitFor({ state: 'visible', timeout: APP_TIMEOUT });
      const message = (await banner.innerText()).trim();
      await screenshot(page, 'c-broken-onnx');
      console.log(`error banner: ${JSON.stringify(message)}`);
      assert.equal(await banner.getAttribute('role'), 'alert');
      assert.ok(message.length >= 10, `the banner says too little: ${JSON.stringify(message)}`);
      assert.match(message, /onnx|model|protobuf|decod|truncat|invalid|pars/i, 'the message says what went wrong');

      await dropFiles(page, tid('drop-zone'), [{ name: 'coffee.png', type: 'image/png', bytes: sharedFile('images/coffee.png') }]);
      const h = await waitHeatmap(page, { image: 'coffee.png' });
      await screenshot(page, 'c-coffee-after-error');
      assert.equal(h.model, first.model, 'the previous model is still in use');
      assert.equal(await banner.isVisible(), false, 'a successful action clears the error banner');
    } finally {
      await context.close();
    }
  });

  test('d. at 375 px wide: no horizontal scrollbar, and Tab reaches the drop zone', { timeout: TEST_TIMEOUT }, async () => {
    const { context, page } = await ready({ width: 375, height: 812 });
    try {
      await screenshot(page, 'd-375px');
      const widths = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
        inner: window.innerWidth,
      }));
      assert.ok(widths.scroll <= widths.client, `horizontal overflow at 375 px: ${JSON.stringify(widths)}`);
      const zone = page.locator(tid('drop-zone'));
      assert.equal(await zone.getAttribute('tabindex'), '0');
      await page.evaluate(() => document.activeElement?.blur());
      let reached = false;
      for (let i = 0; i < 40 && !reached; i++) {
        await page.keyboard.press('Tab');
        reached = await page.evaluate(() => document.activeElement?.getAttribute('data-testid') === 'drop-zone');
      }
      assert.ok(reached, 'Tab never focused the drop zone (40 presses)');
      await screenshot(page, 'd-375px-drop-zone-focused');
    } finally {
      await context.close();
    }
  });

  test('e. a method change repaints; a click on a top-5 class explains that class', { timeout: TEST_TIMEOUT }, async () => {
    const { context, page, problems, first } = await ready();
    try {
      const before = await canvasPixels(page, tid('heatmap-canvas'));
      await page.selectOption(tid('method-picker'), 'epsilon-plus-flat');
      const m = await waitHeatmap(page, { method: 'epsilon-plus-flat' });
      assert.equal(m.image, first.image);
      const after = await canvasPixels(page, tid('heatmap-canvas'));
      assert.ok(pixelDiff(before, after, 0).over > 0, 'the heatmap did not change with the method');
      await screenshot(page, 'e-epsilon-plus-flat');

      const classes = await page.$$eval(`${tid('top5')} button[data-testid^="class-"]`, (bs) =>
        bs.map((b) => b.getAttribute('data-testid')).filter((id) => /^class-\d+$/.test(id)),
      );
      assert.equal(classes.length, 5, `five classes in top5: ${classes}`);
      const other = classes.map((id) => id.slice('class-'.length)).find((n) => n !== m.target);
      await page.click(`${tid('top5')} ${tid('class-' + other)}`);
      const t = await waitHeatmap(page, { target: other, method: 'epsilon-plus-flat' });
      assert.equal(t.image, first.image);
      await screenshot(page, 'e-class-' + other);
      assert.deepEqual(problems.console, [], 'console errors');
    } finally {
      await context.close();
    }
  });

  // Issue 9: a modern architecture (ConvNeXt: LayerNorm over channels, GELU in its tanh form, layer
  // scale) dropped with its sidecar is explained by every method family, and the layer chart names
  // layers by kind ("LayerNorm 3", "GELU (tanh) 2"), not by raw ONNX ids.
  test('g. a dropped ConvNeXt (LayerNorm, written-out GELU) is explained; layers have readable names', { timeout: TEST_TIMEOUT }, async () => {
    const { context, page, problems, first } = await ready();
    try {
      const sidecar = {
        name: 'test ConvNeXt (zoo)',
        input: {
          width: 160, height: 160, channels: 3, color: 'rgb', layout: 'nchw', resize: 'stretch',
          scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
        },
      };
      await dropFiles(page, tid('drop-zone'), [
        { name: 'test_convnext.onnx', type: 'application/octet-stream', bytes: sharedFile('zoo/test_convnext.onnx') },
        { name: 'test_convnext.json', type: 'application/json', bytes: Buffer.from(JSON.stringify(sidecar)) },
      ]);
      await page.waitForFunction(
        ([sel, before]) => document.querySelector(sel)?.textContent && document.querySelector(sel).textContent !== before,
        [tid('model-name'), await page.locator(tid('model-name')).innerText()],
        { timeout: APP_TIMEOUT },
      );
      const h = await waitHeatmap(page, { method: 'rlrp' });
      assert.notEqual(h.model, first.model, 'the dropped model is in use');
      assert.equal(h.width, 160);
      await screenshot(page, 'g-convnext-rlrp');
      const chart = await page.locator('.layers-card').innerHTML();
      assert.match(chart, /LayerNorm \d+/, 'the layer chart names LayerNorm layers');
      assert.match(chart, /GELU \(tanh\) \d+/, 'the written-out GELU is one named layer');
      for (const method of ['gradient', 'epsilon-plus-flat']) {
        await page.selectOption(tid('method-picker'), method);
        await waitHeatmap(page, { method });
      }
      await screenshot(page, 'g-convnext-epsilon-plus-flat');
      assert.equal(await page.locator(tid('error-banner')).isVisible(), false, 'no error');
      assert.deepEqual(problems.console, [], 'console errors');
    } finally {
      await context.close();
    }
  });

  test('h. a model that makes the engine panic, and one over budget: the page says so and keeps working', { timeout: TEST_TIMEOUT }, async () => {
    const { context, page, first } = await ready();
    const hostile = (name) => fs.readFileSync(path.join(REPO, 'tests/data/hostile', name));
    const banner = page.locator(tid('error-banner'));
    const bannerSays = (re) =>
      page.waitForFunction(
        ([sel, source]) => new RegExp(source, 'i').test(document.querySelector(sel)?.textContent ?? ''),
        [tid('error-banner'), re.source],
        { timeout: APP_TIMEOUT },
      );
    try {
      // tract panics in its shape inference on this model; the worker (panic = "abort") dies.
      await dropFiles(page, tid('drop-zone'), [
        { name: 'tract_panic_flatten.onnx', type: 'application/octet-stream', bytes: hostile('tract_panic_flatten.onnx') },
      ]);
      await bannerSays(/restarted with the previous model/);
      const crash = (await banner.innerText()).trim();
      console.log(`panic banner: ${JSON.stringify(crash)}`);
      await screenshot(page, 'h-tract-panic');
      assert.match(crash, /tract_panic_flatten\.onnx/, 'the banner names the model');
      assert.match(crash, /engine panicked at tract-hir-[0-9.]+\/src\/ops\/array\/flatten\.rs:\d+: /, 'the panic message reaches the user');
      // The restarted engine has the previous model and image: a method change repaints.
      await page.selectOption(tid('method-picker'), 'gradient');
      const g = await waitHeatmap(page, { method: 'gradient' });
      assert.equal(g.model, first.model, 'the previous model is back');
      assert.equal(g.image, first.image, 'the previous image is back');

      await dropFiles(page, tid('drop-zone'), [
        { name: 'over_budget_pad.onnx', type: 'application/octet-stream', bytes: hostile('over_budget_pad.onnx') },
      ]);
      await bannerSays(/over budget/);
      const budget = (await banner.innerText()).trim();
      console.log(`budget banner: ${JSON.stringify(budget)}`);
      await screenshot(page, 'h-over-budget');
      assert.match(budget, /173 GB.*the limit is/, 'the banner says how much and the limit');

      await dropFiles(page, tid('drop-zone'), [{ name: 'coffee.png', type: 'image/png', bytes: sharedFile('images/coffee.png') }]);
      const h = await waitHeatmap(page, { image: 'coffee.png' });
      assert.equal(h.model, first.model, 'the previous model is still in use');
      assert.equal(await banner.isVisible(), false, 'a successful action clears the error banner');

      // A model whose relevance vanishes (zero first-layer weights): no silent blank map.
      await dropFiles(page, tid('drop-zone'), [
        { name: 'degenerate_zero_weights.onnx', type: 'application/octet-stream', bytes: hostile('degenerate_zero_weights.onnx') },
      ]);
      await waitHeatmap(page, { model: 'degenerate_zero_weights.onnx' });
      const warning = page.locator(tid('map-warning'));
      await warning.waitFor({ state: 'visible', timeout: APP_TIMEOUT });
      const said = (await warning.innerText()).trim();
      console.log(`map warning: ${JSON.stringify(said)}`);
      await screenshot(page, 'h-degenerate-warning');
      assert.match(said, /cannot be trusted: the relevance is zero everywhere: it vanished at .*: the values entering it are all zero/);
      assert.equal(await warning.getAttribute('role'), 'alert');
    } finally {
      await context.close();
    }
  });

  // The download budget (gzip -9, as a static host would serve it): all wasm ≤ 3 MB, and the
  // wasm + JS + default model (with its sidecar and labels) ≤ 8 MB. The page's wasm must not contain
  // the engine (tract): it is built without the `engine` feature (index.html).
  // A model as PyTorch's exporter writes it by default: the graph in classifier.onnx, the weights in
  // classifier.onnx.data. Dropped alone, the page says which file is missing; dropped together,
  // the model is explained.
  test('i. a model with its weights in an external data file, dropped alone and then with the file', { timeout: TEST_TIMEOUT }, async () => {
    const { context, page, problems, first } = await ready();
    const pair = (name) => fs.readFileSync(path.join(REPO, 'tests/data/external', name));
    const onnx = { name: 'classifier.onnx', type: 'application/octet-stream', bytes: pair('classifier.onnx') };
    const data = { name: 'classifier.onnx.data', type: 'application/octet-stream', bytes: pair('classifier.onnx.data') };
    try {
      await dropFiles(page, tid('drop-zone'), [onnx]);
      const banner = page.locator(tid('error-banner'));
      await banner.waitFor({ state: 'visible', timeout: APP_TIMEOUT });
      const message = (await banner.innerText()).trim();
      console.log(`error banner: ${JSON.stringify(message)}`);
      assert.match(message, /classifier\.onnx\.data/, 'the banner names the missing file');
      assert.match(message, /together/, 'and says what to do');

      await dropFiles(page, tid('drop-zone'), [onnx, data]);
      await page.waitForFunction(
        (sel) => document.querySelector(sel)?.textContent?.includes('classifier.onnx'),
        tid('model-name'),
        { timeout: APP_TIMEOUT },
      );
      const h = await waitHeatmap(page, { model: 'classifier.onnx' });
      assert.notEqual(h.model, first.model, 'the dropped model is in use');
      assert.equal(h.width, 8);
      await screenshot(page, 'i-external-data');
      assert.equal(await banner.isVisible(), false, 'no error once the data file came with it');
      assert.deepEqual(problems.console, [], 'console errors');
    } finally {
      await context.close();
    }
  });

  test('f. download budget: wasm ≤ 3 MB gzip, wasm + JS + default model ≤ 8 MB gzip', () => {
    assert.equal(problem, null, problem);
    const gz = (f) => zlib.gzipSync(fs.readFileSync(path.join(DIST, f)), { level: 9 }).length;
    const files = fs.readdirSync(DIST);
    const wasm = files.filter((f) => f.endsWith('.wasm'));
    const js = files.filter((f) => f.endsWith('.js'));
    assert.deepEqual(wasm.sort(), ['rlrp-app_bg.wasm', 'rlrp-worker_bg.wasm']);
    const wasmGz = wasm.reduce((n, f) => n + gz(f), 0);
    const stem = path.basename(DEFAULT_MODEL, '.onnx');
    const model = [`models/${stem}.onnx`, `models/${stem}.json`, 'models/imagenet_categories.json'];
    const totalGz = wasmGz + [...js, ...model].reduce((n, f) => n + gz(f), 0);
    const MB = (n) => (n / 1e6).toFixed(2) + ' MB';
    console.log(`download budget: wasm ${MB(wasmGz)} gzip (page ${MB(gz('rlrp-app_bg.wasm'))}), ` +
      `wasm + JS + default model ${MB(totalGz)} gzip`);
    assert.ok(wasmGz <= 3e6, `all wasm: ${MB(wasmGz)} gzip > 3 MB`);
    assert.ok(totalGz <= 8e6, `wasm + JS + default model: ${MB(totalGz)} gzip > 8 MB`);
    assert.ok(gz('rlrp-app_bg.wasm') <= 1e6, `the page's wasm is ${MB(gz('rlrp-app_bg.wasm'))} gzip: does it hold the engine?`);
  });
});
