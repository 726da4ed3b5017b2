// Shared pieces of the end-to-end tests and the benchmark: where things are, launching the Debian
// Chromium through playwright-core, watching a page for console errors / CSP violations / foreign
// requests, dropping files with real drag-and-drop events, reading canvas pixels.
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from './server.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED = process.env.RLRP_SHARED ? path.resolve(process.env.RLRP_SHARED) : path.resolve(REPO, '../shared');
/** The trunk build to test (default dist/; RLRP_E2E_DIST overrides). */
export const DIST = path.resolve(REPO, process.env.RLRP_E2E_DIST || 'dist');
export const ARTIFACTS = path.join(REPO, 'target/e2e-artifacts');
export const CHROMIUM = process.env.RLRP_CHROMIUM || '/usr/bin/chromium';
/** Minutes-scale limit for the page's work (a cold start compiles ~10 MB of wasm on a busy 2-core machine). */
export const APP_TIMEOUT = Number(process.env.RLRP_E2E_TIMEOUT_MS || 120000);

export const DEFAULT_MODEL = 'www/models/efficientnet_lite0_int8_weightonly_dq.onnx';
export const tid = (id) => `[data-testid="${id}"]`;

export function distProblem() {
  const index = path.join(DIST, 'index.html');
  if (!fs.existsSync(index)) return `${DIST} has no index.html: build it with \`trunk build --release --offline\``;
  if (!fs.readdirSync(DIST).some((f) => f.endsWith('.wasm')))
    return `${DIST} holds no .wasm: it is not a trunk build of the app (run \`trunk build --release --offline\`)`;
  return null;
}

export async function launch(extraArgs = []) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  // launch() starts Chromium on a new temporary profile (a fresh user-data-dir) and removes it on close.
  // `extraArgs` are added as they are (one argument each, spaces kept: e.g. a --js-flags list).
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // extra flags for experiments, e.g. CHROMIUM_FLAGS='--js-flags=--no-liftoff'
      ...(process.env.CHROMIUM_FLAGS ? process.env.CHROMIUM_FLAGS.split(' ') : []),
      ...extraArgs,
    ],
  });
}

export async function startServer() {
  return serve(DIST, '/e2e/sub/path/');
}

/**
 * A fresh browser context (own storage, no service worker from other tests) and page, watched:
 * `problems.console` (console errors, uncaught exceptions, from the page and its workers),
 * `problems.csp` (securitypolicyviolation events), `problems.foreign` (requests to any other origin).
 */
// Runs in a page before its own scripts: records, on the page's own clock (ms after navigation),
// the moment the heatmap canvas is first marked ready, as `window.__firstHeatmapMs`. Neither the
// creation of the tab's renderer nor Playwright's polling is counted.
export const watchFirstHeatmap = () => {
  const seen = () => {
    const canvas = document.querySelector('[data-testid="heatmap-canvas"][data-state="ready"]');
    if (canvas && window.__firstHeatmapMs === undefined) window.__firstHeatmapMs = performance.now();
  };
  new MutationObserver(seen).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
};

// The first heatmap's time after navigation (see watchFirstHeatmap, which openPage installs).
export async function firstHeatmapMs(page) {
  await page.waitForFunction(() => window.__firstHeatmapMs !== undefined, null, { timeout: APP_TIMEOUT });
  return page.evaluate(() => window.__firstHeatmapMs);
}

export async function openPage(browser, server, { width = 1280, height = 900, query = '' } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  // `requestsAt`: each request's URL and when it was made (Date.now(); `navigationStart` is that
  // clock just before navigating), so that a benchmark can tell what came before the first heatmap.
  const problems = { console: [], csp: [], foreign: [], requests: [], requestsAt: [], navigationStart: NaN };
  context.on('request', (req) => {
    const url = req.url();
    problems.requests.push(url);
    problems.requestsAt.push({ url, at: Date.now() });
    if (!url.startsWith(server.origin + '/') && !/^(data|blob):/.test(url)) problems.foreign.push(url);
  });
  const page = await context.newPage();
  const onConsole = (where) => (msg) => {
    if (msg.type() !== 'error') return;
    const url = msg.location()?.url || '';
    // (Without an icon declared, Chromium asks for /favicon.ico at the origin's root: a 404 outside
    // the app's sub-path, logged as a console error. index.html declares one, so that counts too.)
    problems.console.push(`${where}: ${msg.text()}${url ? ` (${url})` : ''}`);
  };
  page.on('console', onConsole('page'));
  page.on('pageerror', (err) => problems.console.push(`page exception: ${err.message}`));
  page.on('worker', (worker) => {
    worker.on?.('console', onConsole('worker'));
  });
  await page.addInitScript(watchFirstHeatmap);
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  problems.navigationStart = Date.now();
  await page.goto(server.url + query);
  return { context, page, problems };
}

/** CSP violations seen by the page so far (added to problems.csp). */
export async function collectCsp(page, problems) {
  const v = await page.evaluate(() => window.__cspViolations || []);
  problems.csp.push(...v);
  return problems;
}

/**
 * Starts watching the progress indicator; the returned function waits until it has been busy at
 * some moment since. A quick request can be busy and done again between two of Playwright's
 * polls, so waiting for `[data-busy="true"]` after a click can miss it.
 */
export async function watchBusy(page) {
  await page.evaluate(() => {
    window.__busySeen = false;
    const busy = (v) => v === 'true';
    new MutationObserver((records) => {
      if (records.some((r) => busy(r.oldValue) || busy(r.target.getAttribute?.('data-busy')))) window.__busySeen = true;
    }).observe(document, { subtree: true, attributes: true, attributeOldValue: true, attributeFilter: ['data-busy'] });
  });
  return (timeout = 10000) => page.waitForFunction(() => window.__busySeen, null, { timeout });
}

/**
 * Waits until every selector matches an element, watching the page's DOM from inside the page (a
 * MutationObserver: one call, nothing to do until the DOM changes). Playwright's own
 * `waitForSelector` polls from here instead, at 0, 20, 70, 170 and 270 ms and then every 500 ms,
 * each poll several DevTools round trips through the browser to the page's thread. On 2 cores that
 * traffic ran during the engine's passes (~10 ms of the page thread's time in each) and saw their
 * end late: a dropped image's drop-to-heatmap time fell from 246–251 to 208–211 ms with this wait,
 * and bench.mjs's forward + R-LRP from 115.7–121.9 to 114.0–114.1 ms (README "Stop 39"). A
 * navigation meanwhile (which ends the call) falls back to Playwright's polling.
 */
export async function waitInPage(page, selectors, timeout = APP_TIMEOUT) {
  const watch = ([selectors, timeout]) =>
    new Promise((resolve, reject) => {
      const met = () => selectors.every((s) => document.querySelector(s));
      if (met()) return resolve();
      const observer = new MutationObserver(() => {
        if (!met()) return;
        observer.disconnect();
        clearTimeout(timer);
        resolve();
      });
      const timer = setTimeout(() => {
        observer.disconnect();
        reject(new Error(`not there after ${timeout} ms: ${selectors.join(' and ')}`));
      }, timeout);
      observer.observe(document, { subtree: true, childList: true, attributes: true });
    });
  try {
    await page.evaluate(watch, [selectors, timeout]);
  } catch (e) {
    if (!/context was destroyed|navigat/i.test(e.message)) throw e;
    for (const s of selectors) await page.waitForSelector(s, { timeout, state: 'attached' });
  }
}

/** Waits until the heatmap canvas is ready with the given data-* attributes (e.g. { image: 'x.png' }). */
export async function waitHeatmap(page, attrs = {}, timeout = APP_TIMEOUT) {
  const sel =
    tid('heatmap-canvas') +
    '[data-state="ready"]' +
    Object.entries(attrs)
      .map(([k, v]) => `[data-${k}="${v}"]`)
      .join('');
  await waitInPage(page, [sel, tid('progress') + '[data-busy="false"]'], timeout);
  return page.$eval(tid('heatmap-canvas'), (c) => ({ ...c.dataset, width: c.width, height: c.height }));
}

/**
 * Drops files on an element with real DOM drag-and-drop events: a DataTransfer holding Files built
 * in the page from the bytes, dispatched as dragenter, dragover and drop.
 * `files` = [{ name, bytes (Buffer), type }].
 */
export async function dropFiles(page, selector, files) {
  const payload = files.map((f) => ({ name: f.name, type: f.type || '', b64: Buffer.from(f.bytes).toString('base64') }));
  await page.$eval(
    selector,
    (target, files) => {
      const dt = new DataTransfer();
      for (const f of files) {
        const raw = atob(f.b64);
        const bytes = new Uint8Array(raw.length);
        for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
        dt.items.add(new File([bytes], f.name, { type: f.type }));
      }
      for (const type of ['dragenter', 'dragover', 'drop']) {
        target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, composed: true, dataTransfer: dt }));
      }
    },
    payload,
  );
}

/** RGBA bytes of a canvas in the page: { width, height, data: Buffer }. */
export async function canvasPixels(page, selector) {
  const r = await page.$eval(selector, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
    return { width: c.width, height: c.height, b64: btoa(s) };
  });
  return { width: r.width, height: r.height, data: Buffer.from(r.b64, 'base64') };
}

/** Decodes a PNG file to RGBA in a blank page of the browser (Chromium's decoder, no colour management for plain PNGs). */
export async function decodePng(browser, file) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const url = 'data:image/png;base64,' + fs.readFileSync(file).toString('base64');
    const r = await page.evaluate(async (url) => {
      const img = new Image();
      img.src = url;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let s = '';
      for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
      return { width: c.width, height: c.height, b64: btoa(s) };
    }, url);
    return { width: r.width, height: r.height, data: Buffer.from(r.b64, 'base64') };
  } finally {
    await context.close();
  }
}

/** Differences of two RGBA pictures over the RGB channels: max, mean, and the share of pixels whose
 * largest channel difference exceeds `levels`. */
export function pixelDiff(a, b, levels = 4) {
  if (a.width !== b.width || a.height !== b.height) throw new Error(`sizes differ: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  let max = 0, sum = 0, over = 0;
  const n = a.width * a.height;
  for (let p = 0; p < n; p++) {
    let m = 0;
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(a.data[4 * p + c] - b.data[4 * p + c]);
      sum += d;
      if (d > m) m = d;
    }
    if (m > max) max = m;
    if (m > levels) over++;
  }
  return { max, mean: sum / (3 * n), over, share: over / n, pixels: n };
}

export async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, name + '.png'), fullPage: true });
}

/** The entry of the bundle's default model in DIST/bundle.json (its first, if none is marked). */
export function defaultModel() {
  const bundle = JSON.parse(fs.readFileSync(path.join(DIST, 'bundle.json'), 'utf8'));
  return bundle.models.find((m) => m.id === bundle.default) || bundle.models[0];
}

/** The median of the finite values of `xs` (NaN when there are none). */
export function median(xs) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function sharedFile(rel) {
  return fs.readFileSync(path.join(SHARED, rel));
}

/**
 * For a describe block: starts the local server and Chromium before its tests and closes them
 * after. Returns { problem (why dist/ cannot be tested, or null), browser(), server(), ready(opts) };
 * `ready` opens a fresh page (openPage's options) and waits for the default sample's heatmap
 * (`p.first` = its data-* attributes).
 */
export function browserSuite() {
  let browser, server;
  const problem = distProblem();
  before(async () => {
    if (problem) return;
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });
  async function ready(opts) {
    if (problem) throw new Error(problem);
    const p = await openPage(browser, server, opts);
    try {
      p.first = await waitHeatmap(p.page);
    } catch (e) {
      await screenshot(p.page, 'startup-failure').catch(() => {});
      throw new Error(`the page did not show a heatmap: ${e.message}; console: ${p.problems.console.join(' | ')}`);
    }
    return p;
  }
  return { problem, browser: () => browser, server: () => server, ready };
}
