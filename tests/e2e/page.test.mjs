// End-to-end tests of the page as a product (issue 11): a heatmap readable at a glance (alone,
// white = 0, beside the image, with a colour bar), methods compared side by side, errors and
// progress in a fixed status region, cancel that keeps the user's choice, a phone-width layout
// with nothing clipped, and a keyboard-only walk. Screenshots go to target/e2e-artifacts/.
//
//   node --test tests/e2e/page.test.mjs
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  ARTIFACTS, APP_TIMEOUT, tid, browserSuite, waitHeatmap, canvasPixels, pixelDiff,
  screenshot,
} from './lib.mjs';

const TEST_TIMEOUT = APP_TIMEOUT + 180000;

// A pixel is "visibly coloured" when a channel is more than 25 levels (10 % of full colour) away
// from the colour of zero (white in the heatmap-alone view).
const VISIBLE_LEVELS = 25;

/** The share of pixels of a canvas more than VISIBLE_LEVELS away from white. */
async function visibleShare(page, selector) {
  const px = await canvasPixels(page, selector);
  const white = { width: px.width, height: px.height, data: Buffer.alloc(px.data.length, 255) };
  return pixelDiff(px, white, VISIBLE_LEVELS).share;
}

/** Bounding boxes of every element matching `selector` (visible ones only). */
async function boxes(page, selector) {
  return page.$$eval(selector, (els) =>
    els
      .filter((e) => e.getClientRects().length > 0)
      .map((e) => {
        const r = e.getBoundingClientRect();
        return { id: e.getAttribute('data-testid') || e.className || e.tagName, left: r.left, right: r.right, top: r.top, bottom: r.bottom };
      }),
  );
}

describe('the page as a product (headless Chromium)', { timeout: 30 * 60000 }, () => {
  const { ready } = browserSuite();

  test('the default view shows the heatmap alone beside the image, visibly coloured, with a colour bar', { timeout: TEST_TIMEOUT }, async () => {
    const { context, page, first } = await ready({ width: 1280, height: 800 });
    try {
      assert.equal(first.view, 'beside', 'the default view is the heatmap alone');
      await screenshot(page, 'p-default-view');
      const rlrp = await visibleShare(page, tid('heatmap-canvas'));
      const bar = await page.$eval(`.heat-tile ${tid('colorbar')}`, (s) => ({ clip: s.dataset.clip, gamma: s.dataset.gamma }));
      assert.ok(Number(bar.clip) > 0, `colour bar clip ${bar.clip}`);
      await page.selectOption(tid('method-picker'), 'epsilon-plus-flat');
      await waitHeatmap(page, { method: 'epsilon-plus-flat' });
      const epf = await visibleShare(page, tid('heatmap-canvas'));
      const barEpf = await page.$eval(`.heat-tile ${tid('colorbar')}`, (s) => s.dataset.gamma);
      const line =
        `visibly coloured pixels (> ${VISIBLE_LEVELS} levels from white), default view, ${first.image}: ` +
        `R-LRP ${(100 * rlrp).toFixed(1)} % (γ ${bar.gamma}), EpsilonPlusFlat ${(100 * epf).toFixed(1)} % (γ ${barEpf})`;
      console.log(line);
      fs.writeFileSync(path.join(ARTIFACTS, 'visible_share.txt'), line + '\n');
      // auto contrast makes at least a fifth of the pixels visibly coloured (up to rounding)
      assert.ok(rlrp >= 0.18, line);
      assert.ok(epf >= 0.18, line);
      // the image and the heatmap are side by side: same row, same size
      const [img] = await boxes(page, tid('image-canvas'));
      const [heat] = await boxes(page, tid('heatmap-canvas'));
      assert.ok(Math.abs(img.top - heat.top) < 2 && Math.abs(img.right - img.left - (heat.right - heat.left)) < 2,
        `image ${JSON.stringify(img)} and heatmap ${JSON.stringify(heat)} not side by side at one size`);

      // the overlay goes from the image (opacity 0) to the heatmap alone (opacity 1)
      const alone = await canvasPixels(page, tid('heatmap-canvas'));
      const image = await canvasPixels(page, tid('image-canvas'));
      await page.selectOption(tid('view-picker'), 'overlay');
      await page.$eval(tid('opacity'), (r) => { r.value = '1'; r.dispatchEvent(new Event('input', { bubbles: true })); });
      await page.waitForSelector(tid('heatmap-canvas') + '[data-view="overlay"]');
      await page.waitForTimeout(200);
      assert.equal(pixelDiff(await canvasPixels(page, tid('heatmap-canvas')), alone, 0).over, 0, 'opacity 1 is the heatmap alone');
      await page.$eval(tid('opacity'), (r) => { r.value = '0'; r.dispatchEvent(new Event('input', { bubbles: true })); });
      await page.waitForTimeout(200);
      assert.equal(pixelDiff(await canvasPixels(page, tid('heatmap-canvas')), image, 0).over, 0, 'opacity 0 is the image');
    } finally {
      await context.close();
    }
  });

  test('compare: four methods side by side, visible without scrolling at 1280×800, each with its colour bar', { timeout: TEST_TIMEOUT }, async () => {
    const { context, page } = await ready({ width: 1280, height: 800 });
    try {
      for (const m of ['epsilon-plus-flat', 'lrp0', 'zplus']) await page.check(tid('compare-' + m));
      // a fourth compared method cannot be added (the page disables the rest when it re-renders
      // after the third check, which can come a moment after the click: waited for, up to 5 s)
      await page.waitForSelector(`${tid('compare-gradient')}:disabled`, { timeout: 5000, state: 'attached' }).catch(() => {});
      assert.equal(await page.isDisabled(tid('compare-gradient')), true, 'more than three compared methods');
      for (const m of ['epsilon-plus-flat', 'lrp0', 'zplus']) {
        await page.waitForSelector(`${tid('compare-canvas')}[data-method="${m}"][data-state="ready"]`, { timeout: APP_TIMEOUT });
      }
      await page.waitForSelector(tid('progress') + '[data-busy="false"]', { timeout: APP_TIMEOUT });
      await page.evaluate(() => window.scrollTo(0, 0));
      await screenshot(page, 'p-compare-grid');
      const maps = await boxes(page, `${tid('heatmap-canvas')}, ${tid('compare-canvas')}, ${tid('image-canvas')}`);
      assert.equal(maps.length, 5, 'the image and four maps');
      for (const b of maps) assert.ok(b.bottom <= 800 && b.right <= 1280, `not in view without scrolling: ${JSON.stringify(b)}`);
      const widths = new Set(maps.map((b) => Math.round(b.right - b.left)));
      assert.equal(widths.size, 1, `maps of different sizes: ${[...widths]}`);
      const bars = await page.$$eval(`${tid('tiles')} ${tid('colorbar')}`, (s) => s.map((e) => Number(e.dataset.clip)));
      assert.equal(bars.length, 4, 'one colour bar per map');
      assert.ok(new Set(bars).size > 1, `each map has its own scale: ${bars}`);
      await page.check(tid('shared-scale'));
      await page.waitForTimeout(300);
      const shared = await page.$$eval(`${tid('tiles')} ${tid('colorbar')}`, (s) => s.map((e) => Number(e.dataset.clip)));
      assert.equal(new Set(shared).size, 1, `one scale for all: ${shared}`);
      assert.equal(shared[0], Math.max(...bars), 'the shared scale is the largest clip');

      // pixel flipping runs on every map on show and draws one curve per method: a coarse look at
      // each first (every 9th of its 51 steps, the measured ones marked), then the whole curve.
      // Its progress line moves while it runs (the line re-renders on its own, not the page).
      await page.evaluate(() => {
        const line = document.querySelector('[data-testid="progress"]');
        const seen = (window.__progressSeen = []);
        new MutationObserver(() => {
          const bar = line.querySelector('progress');
          if (bar && bar.hasAttribute('value')) seen.push([Number(bar.value), Number(bar.max), line.querySelector('.stage').textContent]);
        }).observe(line, { subtree: true, attributes: true, childList: true, characterData: true });
      });
      await page.click(tid('faithfulness-button'));
      const chart = tid('faithfulness-chart');
      await page.waitForSelector(chart + '[data-state="coarse"]', { timeout: 4 * APP_TIMEOUT });
      assert.equal(await page.getAttribute(chart, 'data-points'), '7');
      assert.ok((await page.$$(`${chart} circle.mark`)).length >= 7, 'the coarse look marks its measured steps');
      assert.match(await page.textContent(tid('faith-summary')), /a first look at .* from 7 of the 51 steps/);
      await screenshot(page, 'p-faithfulness-coarse');
      await page.waitForSelector(chart + '[data-curves="4"][data-state="ready"]', { timeout: 4 * APP_TIMEOUT });
      assert.equal(await page.getAttribute(chart, 'data-points'), '51');
      assert.equal((await page.$$(`${chart} circle.mark`)).length, 0);
      await page.waitForSelector(tid('progress') + '[data-busy="false"]', { timeout: APP_TIMEOUT });
      const flipping = (await page.evaluate(() => window.__progressSeen)).filter(([, max, stage]) => max > 1 && stage.startsWith('pixel flipping'));
      assert.ok(new Set(flipping.map(([v]) => v)).size >= 3, `the progress line moved: ${JSON.stringify(flipping)}`);
      for (const [v, max, stage] of flipping) assert.equal(stage, `pixel flipping ${v}/${max}`);
      // (a run per method: R-LRP's 151 passes with the random orders, then 51 for each other one)
      const restarts = flipping.filter(([v], i) => i > 0 && v < flipping[i - 1][0]);
      assert.ok(restarts.length <= 3 && restarts.every(([v]) => v <= 5), `it only moves forward within a run: ${JSON.stringify(flipping)}`);
      assert.equal(await page.textContent(tid('progress') + ' .stage'), 'ready');
      await screenshot(page, 'p-compare-faithfulness');
    } finally {
      await context.close();
    }
  });

  test('pixel flipping shares its forward passes with a helper worker, and its curves equal the engine\'s alone', { timeout: 2 * TEST_TIMEOUT }, async () => {
    // one run on a page whose engine computes alone (?helpers=0), one with its helper worker
    const run = async (query) => {
      const { context, page, problems } = await ready({ query });
      try {
        await page.click(tid('faithfulness-button'));
        const chart = tid('faithfulness-chart');
        await page.waitForSelector(chart + '[data-state="ready"]', { timeout: 4 * APP_TIMEOUT });
        const lines = await page.$$eval(chart + ' polyline.line', (ps) => ps.map((p) => p.getAttribute('points')));
        const helper = await page.$eval(chart + ' polyline.morf', (p) => Number(p.dataset.helperPasses));
        const aopc = await page.$eval(chart, (c) => [c.dataset.aopcMorf, c.dataset.aopcRandom]);
        assert.deepEqual(problems.console, [], 'no console error');
        return { lines, helper, aopc };
      } finally {
        await context.close();
      }
    };
    const alone = await run('?helpers=0');
    const shared = await run('');
    assert.equal(alone.helper, 0, 'no helper on ?helpers=0');
    // 150 passes (the clean input's logits are the explanation's): the engine takes the first
    // look's 12 and then goes on from the front
    assert.ok(shared.helper >= 30 && shared.helper <= 120, `the helper computed ${shared.helper} of 150 passes`);
    assert.deepEqual(shared.aopc, alone.aopc, 'the same AOPCs');
    assert.ok(alone.lines.length >= 2);
    assert.deepEqual(shared.lines, alone.lines, 'the same curves');
  });

  test('an error is in view when the page is scrolled down, and does not move the layout', { timeout: TEST_TIMEOUT }, async () => {
    const { context, page } = await ready({ width: 1280, height: 800 });
    try {
      await page.fill(tid('class-input'), '99999');
      // scrolled to the bottom with the focus still in the class field: Enter asks for a class that
      // does not exist
      await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
      await page.waitForTimeout(100);
      const before = await boxes(page, tid('layer-chart'));
      await page.keyboard.press('Enter');
      await page.waitForSelector(tid('error-banner'));
      const [banner] = await boxes(page, tid('error-banner'));
      assert.ok(banner.top >= 0 && banner.bottom <= 800, `the error is out of view: ${JSON.stringify(banner)}`);
      assert.match(await page.textContent(tid('error-banner')), /class 99999 does not exist/);
      const after = await boxes(page, tid('layer-chart'));
      assert.deepEqual(after, before, 'the error moved the page');
      await screenshot(page, 'p-error-scrolled');
    } finally {
      await context.close();
    }
  });

  test('cancel says so and keeps the chosen method; "Explain again" computes it', { timeout: TEST_TIMEOUT }, async () => {
    const { context, page } = await ready();
    try {
      await page.selectOption(tid('method-picker'), 'alphabeta');
      await page.waitForSelector(tid('progress') + '[data-busy="true"]');
      await page.click(tid('cancel-button'));
      await page.waitForSelector(tid('notice'));
      assert.match(await page.textContent(tid('notice')), /Cancelled: explaining with/);
      assert.equal(await page.$eval(tid('method-picker'), (s) => s.value), 'alphabeta', 'the method picker kept the choice');
      await page.waitForSelector(tid('progress') + '[data-busy="false"]', { timeout: APP_TIMEOUT });
      assert.equal(await page.$eval(tid('heatmap-canvas'), (c) => c.dataset.method), 'rlrp', 'the previous map stays');
      await screenshot(page, 'p-cancelled');
      await page.click(tid('retry'));
      await waitHeatmap(page, { method: 'alphabeta' });
      assert.equal(await page.$(tid('held')), null, 'the "not computed" line is gone');
    } finally {
      await context.close();
    }
  });

  test('at 375 px: one column in the order drop → picture → prediction → controls, nothing wider than the screen', { timeout: TEST_TIMEOUT }, async () => {
    const { context, page } = await ready({ width: 375, height: 812 });
    try {
      await screenshot(page, 'p-375px');
      const order = [];
      for (const id of ['drop-zone', 'heatmap-canvas', 'top5', 'method-picker', 'faithfulness-chart', 'layer-chart']) {
        const [b] = await boxes(page, tid(id));
        assert.ok(b, `${id} missing`);
        order.push([id, b.top]);
      }
      for (let i = 1; i < order.length; i++)
        assert.ok(order[i][1] > order[i - 1][1], `order at 375 px: ${JSON.stringify(order)}`);
      const all = await boxes(page, '.card, .card *, .status, .status *');
      const wide = all.filter((b) => b.right > 375.5 || b.left < -0.5);
      assert.deepEqual(wide, [], 'elements beyond the 375 px viewport');
      // layer selection by tap on the chart
      const dots = await page.$$(`${tid('layer-chart')} .pick-target`);
      assert.ok(dots.length > 1, 'the layer chart has tappable points');
      const node = await page.$eval(tid('layer-canvas'), (c) => c.dataset.node);
      // points lie a few pixels apart on a phone: a tap selects the one on top at that place
      const dot = dots[Math.floor(dots.length / 2)];
      await dot.scrollIntoViewIfNeeded();
      await dot.click({ force: true });
      await page.waitForFunction((n) => document.querySelector('[data-testid="layer-canvas"]').dataset.node !== n, node);
      assert.notEqual(await page.textContent(tid('layer-readout')), '–');
    } finally {
      await context.close();
    }
  });

  test('keyboard only: Tab reaches the controls, Space adds a method to compare, the layer picker and the layer chart move by arrows', { timeout: TEST_TIMEOUT }, async () => {
    const { context, page } = await ready();
    try {
      await page.evaluate(() => document.activeElement?.blur());
      const seen = [];
      let found = false;
      for (let i = 0; i < 80 && !found; i++) {
        await page.keyboard.press('Tab');
        const id = await page.evaluate(() => document.activeElement?.getAttribute('data-testid'));
        if (id) seen.push(id);
        found = id === 'compare-epsilon-plus-flat';
      }
      assert.ok(found, `Tab never reached the compare box: ${seen.join(' ')}`);
      for (const id of ['drop-zone', 'class-input', 'method-picker'])
        assert.ok(seen.indexOf(id) >= 0 && seen.indexOf(id) < seen.indexOf('compare-epsilon-plus-flat'), `tab order: ${seen.join(' ')}`);
      await page.keyboard.press('Space');
      await page.waitForSelector(`${tid('compare-canvas')}[data-method="epsilon-plus-flat"][data-state="ready"]`, { timeout: APP_TIMEOUT });
      await page.focus(tid('layer-picker'));
      const node = await page.$eval(tid('layer-picker'), (s) => s.value);
      await page.keyboard.press('ArrowUp');
      await page.waitForFunction((n) => document.querySelector('[data-testid="layer-canvas"]').dataset.node !== n, node);
      // the chart itself: focused, ← / → walk the layers that have a map
      await page.focus(tid('layer-chart'));
      const before = await page.$eval(tid('layer-canvas'), (c) => c.dataset.node);
      await page.keyboard.press('ArrowLeft');
      await page.waitForFunction((n) => document.querySelector('[data-testid="layer-canvas"]').dataset.node !== n, before);
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'layer-chart',
        'the chart keeps the focus');
      await screenshot(page, 'p-keyboard');
    } finally {
      await context.close();
    }
  });
});
