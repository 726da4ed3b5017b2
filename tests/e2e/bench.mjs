// Browser benchmark of the built page (not a test):
//
//   node tests/e2e/bench.mjs            (after `trunk build --release --offline`; RLRP_E2E_DIST=DIR for another build)
//   RLRP_BENCH_JSON=out.json node tests/e2e/bench.mjs   (also writes the numbers as JSON)
//   METHOD_ROUNDS=3 node tests/e2e/bench.mjs            (every method 3 times: medians, not one sample)
//   IMAGE_ROUNDS=5 node tests/e2e/bench.mjs             (the two dropped photos 5 times: 14 forward samples, not 4)
//   METHODS=rlrp,alphabeta node tests/e2e/bench.mjs     (only those methods in the table of every method)
//
// In headless Chromium, on the default model (EfficientNet-Lite0 int8, 224×224): model load time,
// forward time and R-LRP relevance time as the worker measures them (performance.now(), shown by the
// page's `timings` element), medians over several images and classes; the ratio relevance/forward;
// the relevance time of every other method (on one image); the sizes of the .wasm (raw, gzip -9) and
// .js files and of the page's first download (every file the page fetched before its first heatmap,
// gzip -9). Then the peer, in the same run and browser: onnxruntime-web's wasm backend on the same
// model file, one thread and (cross-origin isolated) every core (tests/e2e/peer.mjs; scripts/bench.sh
// installs it; without it the peer's rows say so). Prints a table, the ratios and the targets
// (issue 10).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { DIST, APP_TIMEOUT, tid, distProblem, launch, startServer, openPage, waitHeatmap, dropFiles, sharedFile, firstHeatmapMs, defaultModel, median } from './lib.mjs';
import { measurePeer, peerModel, peerProblem, peerVersion } from './peer.mjs';

const problem = distProblem();
if (problem) {
  console.error(problem);
  process.exit(2);
}

const gz = (buf) => zlib.gzipSync(buf, { level: 9 }).length;
const MB = (n) => (n / 1e6).toFixed(2) + ' MB';
const ms = (x) => (Number.isFinite(x) ? x.toFixed(1) + ' ms' : 'n/a');

const server = await startServer();
const browser = await launch();
const METHOD_ROUNDS = Math.max(1, Number(process.env.METHOD_ROUNDS || 1));
const IMAGE_ROUNDS = Math.max(1, Number(process.env.IMAGE_ROUNDS || 1));
const samples = { load: [], forward: [], relevance: [], methods: {} };
let firstDownload = [];
let startupMs = NaN;
try {
  const { context, page, problems } = await openPage(browser, server);
  const first = await waitHeatmap(page);
  // On the page's own clock, from navigation (as tests/e2e/bench-startup.mjs, which takes a median).
  startupMs = Math.round(await firstHeatmapMs(page));
  // Every file the page asked for before its first heatmap (page, worker, default model, labels,
  // sample): requests made after it (the sample thumbnails, fetched once a heatmap is shown) are
  // not part of the first download. (Requests are timed on Playwright's clock from just before
  // navigating, the heatmap on the page's own from navigation: a request counts a few
  // milliseconds early at most.)
  const beforeHeatmap = problems.requestsAt.filter((r) => r.at - problems.navigationStart <= startupMs).map((r) => r.url);
  firstDownload = [...new Set(beforeHeatmap)]
    .filter((u) => u.startsWith(server.url))
    .map((u) => decodeURIComponent(new URL(u).pathname.slice(new URL(server.url).pathname.length)) || 'index.html')
    .filter((f) => fs.existsSync(path.join(DIST, f)) && fs.statSync(path.join(DIST, f)).isFile());

  const timings = async () =>
    page.$eval(tid('timings'), (t) => ({
      load: parseFloat(t.dataset.loadMs),
      forward: parseFloat(t.dataset.forwardMs),
      relevance: parseFloat(t.dataset.relevanceMs),
    }));
  const record = async (what) => {
    const t = await timings();
    for (const k of what) samples[k].push(t[k]);
    return t;
  };
  await record(['load', 'forward', 'relevance']);

  // More images: the bundled samples (via the sample picker) and dropped photos of ../shared/images.
  // For each, the predicted class (forward + relevance), then two more top-5 classes (relevance only).
  const moreClasses = async (image) => {
    const current = await page.$eval(tid('heatmap-canvas'), (c) => c.dataset.target);
    const classes = await page.$$eval(`${tid('top5')} button[data-testid^="class-"]`, (bs) =>
      bs.map((b) => b.getAttribute('data-testid').slice('class-'.length)).filter((n) => /^\d+$/.test(n)),
    );
    for (const c of classes.filter((n) => n !== current).slice(0, 2)) {
      await page.click(`${tid('top5')} ${tid('class-' + c)}`);
      await waitHeatmap(page, { image, target: c });
      await record(['relevance']);
    }
  };
  await moreClasses(first.image);
  const sampleButtons = await page.$$(tid('sample'));
  for (let i = 1; i < sampleButtons.length; i++) {
    const before = await page.$eval(tid('heatmap-canvas'), (c) => c.dataset.image);
    await sampleButtons[i].click();
    await page.waitForFunction(
      ([sel, before]) => {
        const c = document.querySelector(sel);
        return c && c.dataset.state === 'ready' && c.dataset.image !== before;
      },
      [tid('heatmap-canvas'), before],
      { timeout: APP_TIMEOUT },
    );
    const h = await waitHeatmap(page);
    await record(['forward', 'relevance']);
    await moreClasses(h.image);
  }
  // IMAGE_ROUNDS > 1: the two photos again, each a forward pass and R-LRP (the forward pass's median
  // from more samples, for comparing builds).
  for (let round = 0; round < IMAGE_ROUNDS; round++) {
    for (const name of ['astronaut.png', 'rocket.png']) {
      await dropFiles(page, tid('drop-zone'), [{ name, type: 'image/png', bytes: sharedFile('images/' + name) }]);
      await waitHeatmap(page, { image: name });
      await record(['forward', 'relevance']);
      if (round === 0) await moreClasses(name);
    }
  }
  // Every other method's relevance, on the last image (its forward pass is done once), in
  // METHOD_ROUNDS rounds (default 1) through all methods: the table then shows medians.
  const only = process.env.METHODS ? process.env.METHODS.split(',') : null;
  const methods = (await page.$$eval(`${tid('method-picker')} option`, (os) => os.map((o) => o.value))).filter(
    (m) => !only || only.includes(m),
  );
  for (let round = 0; round < METHOD_ROUNDS; round++) {
    for (const method of methods) {
      await page.selectOption(tid('method-picker'), method);
      await waitHeatmap(page, { method });
      const t = await timings();
      (samples.methods[method] ||= []).push(t.relevance);
      if (method === 'rlrp') samples.relevance.push(t.relevance);
    }
  }
  await page.selectOption(tid('method-picker'), 'rlrp');
  await waitHeatmap(page, { method: 'rlrp' });
  // More model loads: switch to another bundled model and back to the default (the load is
  // measured by the worker, from the ONNX bytes to a ready model).
  const modelIds = await page.$$eval(`${tid('model-picker')} option`, (os) => os.map((o) => o.value).filter(Boolean));
  const defaultId = await page.$eval(tid('model-picker'), (s) => s.value);
  const otherId = modelIds.find((id) => id !== defaultId);
  for (let i = 0; otherId && i < 2; i++) {
    try {
      await page.selectOption(tid('model-picker'), otherId);
      await page.waitForFunction(
        ([sel, model]) => {
          const c = document.querySelector(sel);
          return c && c.dataset.state === 'ready' && c.dataset.model !== model;
        },
        [tid('heatmap-canvas'), first.model],
        { timeout: APP_TIMEOUT },
      );
      await page.selectOption(tid('model-picker'), defaultId);
      await waitHeatmap(page, { model: first.model });
      await record(['load']);
    } catch (e) {
      console.error(`(switching models to measure more loads failed: ${e.message.split('\n')[0]})`);
      break;
    }
  }
  await context.close();

  // Sizes.
  const files = fs.readdirSync(DIST);
  const sizeRows = [];
  let wasmGz = 0;
  for (const f of files.filter((f) => f.endsWith('.wasm') || f.endsWith('.js')).sort()) {
    const buf = fs.readFileSync(path.join(DIST, f));
    if (f.endsWith('.wasm')) wasmGz += gz(buf);
    sizeRows.push([f, buf.length, gz(buf)]);
  }
  // The first download as specified: page (html, js, css, wasm), bundle.json, and the default
  // model's ONNX, sidecar, labels and first sample (from bundle.json).
  const def = defaultModel();
  const firstSpec = [
    ...files.filter((f) => /\.(html|js|css|wasm)$/.test(f) && f !== 'sw.js'),
    'bundle.json', def.onnx, def.sidecar, def.labels, def.samples?.[0],
  ].filter((f) => f && fs.existsSync(path.join(DIST, f)));
  const sum = (list) => {
    let raw = 0, g = 0;
    const rows = [];
    for (const f of [...new Set(list)].sort()) {
      const buf = fs.readFileSync(path.join(DIST, f));
      raw += buf.length;
      g += gz(buf);
      rows.push([f, buf.length, gz(buf)]);
    }
    return { raw, g, rows };
  };
  const spec = sum(firstSpec);
  const seen = sum(firstDownload);
  const firstRows = spec.rows, firstRaw = spec.raw, firstGz = spec.g;

  // The peer: onnxruntime-web on the default model's file, 1 thread and every core.
  const { onnx: modelFile, shape } = peerModel();
  let peer = [];
  const noPeer = peerProblem();
  if (!noPeer) {
    try {
      peer = await measurePeer(browser, modelFile, shape);
    } catch (e) {
      console.error(`(the peer failed: ${e.message.split('\n')[0]})`);
    }
  }

  const load = median(samples.load), forward = median(samples.forward), relevance = median(samples.relevance);
  const total = forward + relevance;
  const ratio = relevance / forward;
  const out = [];
  out.push(`rlrp-web browser benchmark: ${first.model || 'default model'} in headless Chromium ${browser.version()}`);
  out.push(`(dist: ${DIST}; first heatmap ${startupMs} ms after navigation)`);
  out.push('');
  out.push('| measure | value | samples |');
  out.push('|---|---:|---:|');
  out.push(`| model load (median; the first one cold) | ${ms(load)} | ${samples.load.length} |`);
  out.push(`| model loads | ${samples.load.map((x) => x.toFixed(0)).join(', ')} ms | |`);
  out.push(`| forward (median) | ${ms(forward)} | ${samples.forward.length} |`);
  out.push(`| R-LRP relevance (median) | ${ms(relevance)} | ${samples.relevance.length} |`);
  out.push(`| relevance / forward | ${ratio.toFixed(2)} | |`);
  out.push(`| forward + relevance | ${ms(total)} | |`);
  out.push('');
  out.push(`Relevance of every method (one image, median of ${METHOD_ROUNDS} round(s); ratio to R-LRP's median):`);
  out.push('');
  out.push('| method | relevance | / R-LRP |');
  out.push('|---|---:|---:|');
  for (const [m, xs] of Object.entries(samples.methods)) out.push(`| ${m} | ${ms(median(xs))} | ${(median(xs) / relevance).toFixed(2)} |`);
  const slowest = Math.max(...Object.entries(samples.methods).filter(([m]) => !m.startsWith('gradient')).map(([, xs]) => median(xs)));
  out.push('');
  const peer1 = peer.find((p) => p.threads === 1);
  const peerN = peer.filter((p) => p.threads > 1).at(-1);
  if (noPeer) out.push(`Peer: ${noPeer}`);
  else {
    out.push(`Peer: onnxruntime-web ${peerVersion()} (wasm backend, graph optimisation "all"), same model file, same browser, ${peer[0]?.isolated ? 'cross-origin isolated' : 'not isolated'}:`);
    out.push('');
    out.push('| peer | session create | forward (median of ' + (peer1?.forward.length ?? 0) + ') | our forward / theirs |');
    out.push('|---|---:|---:|---:|');
    for (const p of peer) out.push(`| onnxruntime-web, ${p.threads} thread${p.threads > 1 ? 's' : ''} | ${ms(p.loadMs)} | ${ms(median(p.forward))} | ${(forward / median(p.forward)).toFixed(2)} |`);
  }
  out.push('');
  out.push('| file | raw | gzip -9 |');
  out.push('|---|---:|---:|');
  for (const [f, raw, g] of sizeRows) out.push(`| ${f} | ${MB(raw)} | ${MB(g)} |`);
  out.push('');
  out.push(`First download: page, bundle.json, default model + sidecar + labels + first sample (${firstRows.length} files):`);
  out.push('');
  out.push('| file | raw | gzip -9 |');
  out.push('|---|---:|---:|');
  for (const [f, raw, g] of firstRows) out.push(`| ${f} | ${MB(raw)} | ${MB(g)} |`);
  out.push(`| **total** | ${MB(firstRaw)} | ${MB(firstGz)} |`);
  out.push('');
  out.push(`Actually fetched before the first heatmap (incl. the service worker): ${seen.rows.length} files, ` +
    `${MB(seen.raw)} raw, ${MB(seen.g)} gzip -9` +
    (seen.rows.length ? ` (${seen.rows.map((r) => r[0]).join(', ')})` : ''));
  out.push('');
  const check = (ok) => (ok ? 'ok' : 'MISSED');
  out.push('| target | measured | |');
  out.push('|---|---:|---|');
  const peerFwd = peer1 ? median(peer1.forward) : NaN;
  out.push(`| forward ≤ onnxruntime-web's (1 thread) | ${ms(forward)} vs ${ms(peerFwd)} | ${check(forward <= peerFwd)} |`);
  out.push(`| R-LRP relevance ≤ 1.5 × forward | ${ratio.toFixed(2)} × | ${check(ratio <= 1.5)} |`);
  out.push(`| forward + R-LRP ≤ 150 ms (1 thread) | ${ms(total)} | ${check(total <= 150)} |`);
  out.push(`| slowest rule method ≤ 3 × R-LRP | ${(slowest / relevance).toFixed(2)} × (${ms(slowest)}) | ${check(slowest <= 3 * relevance)} |`);
  out.push(`| model load ≤ 0.5 s | ${ms(load)} | ${check(load <= 500)} |`);
  out.push(`| first heatmap ≤ 2 s after navigation | ${startupMs} ms | ${check(startupMs <= 2000)} |`);
  out.push(`| first download ≤ 8 MB gzip (fetched before the first heatmap; as specified) | ${MB(seen.g)}; ${MB(firstGz)} | ${check(Math.max(seen.g, firstGz) <= 8e6)} |`);
  out.push(`| wasm ≤ 3 MB gzip (all .wasm) | ${MB(wasmGz)} | ${check(wasmGz <= 3e6)} |`);
  console.log(out.join('\n'));
  if (process.env.RLRP_BENCH_JSON) {
    fs.writeFileSync(
      process.env.RLRP_BENCH_JSON,
      JSON.stringify({ samples, peer, load, forward, relevance, ratio, total, sizes: sizeRows, firstDownload: firstRows, firstGz, fetched: seen, wasmGz }, null, 2),
    );
  }
} finally {
  await browser.close();
  await server.close();
}
