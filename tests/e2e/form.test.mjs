// End-to-end test of the preprocessing form (src/app/ui/sidecar_form.rs) in headless Chromium at
// 1280×800: a user model dropped without a sidecar opens the form; the formula and the input range
// follow the typed values live; pixel-unit mean/std with scale 1/255 (a nearly constant input) gets
// a warning that names the fix, which goes once the scale is fixed; std 0 is an invalid value that
// disables Apply; the Apply button is inside the viewport whenever the form's heading is; Apply
// reloads the model and the heatmap becomes ready again. Screenshots: target/e2e-artifacts/form-*.png
// (form-warning.png: the form with its warning).
//
//   node --test tests/e2e/form.test.mjs   (after `trunk build --release --offline`)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  ARTIFACTS, APP_TIMEOUT, tid, browserSuite, openPage, waitHeatmap, dropFiles, canvasPixels,
  pixelDiff, sharedFile, watchBusy,
} from './lib.mjs';

const TEST_TIMEOUT = 2 * APP_TIMEOUT + 120000;
const VIEWPORT = { width: 1280, height: 800 };
// A zoo model (input [1, 3, 160, 160]) dropped alone: the worker guesses scale 1/255, mean 0, std 1.
const MODEL = 'test_convnext.onnx';

describe('preprocessing form (user model without a sidecar, 1280×800)', { timeout: 30 * 60000 }, () => {
  const suite = browserSuite();
  const { problem } = suite;

  /** A screenshot of the viewport only (lib's full-page one draws the sticky Apply bar mid-page). */
  async function viewShot(page, name) {
    await page.screenshot({ path: path.join(ARTIFACTS, name + '.png') });
  }

  /** The Apply button's box, and whether it lies entirely inside the viewport. */
  async function applyBox(page) {
    const box = await page.locator(tid('sidecar-apply')).boundingBox();
    assert.ok(box, 'the Apply button has no box (not rendered?)');
    const inside = box.x >= 0 && box.y >= 0 && box.x + box.width <= VIEWPORT.width && box.y + box.height <= VIEWPORT.height;
    return { box, inside };
  }

  /** Waits until `testid`'s text contains every string of `parts`. */
  async function waitText(page, testid, parts) {
    await page.waitForFunction(
      ([sel, parts]) => {
        const t = document.querySelector(sel)?.textContent ?? '';
        return parts.every((p) => t.includes(p));
      },
      [tid(testid), parts],
      { timeout: 10000 },
    ).catch(async () => {
      const now = await page.locator(tid(testid)).innerText().catch(() => '(absent)');
      throw new Error(`${testid} never showed ${JSON.stringify(parts)}; it shows ${JSON.stringify(now)}`);
    });
  }

  test('the form explains the formula live, warns, blocks invalid numbers, keeps Apply in view, and applies', { timeout: TEST_TIMEOUT }, async () => {
    assert.equal(problem, null, problem);
    const { context, page, problems } = await openPage(suite.browser(), suite.server(), VIEWPORT);
    try {
      const first = await waitHeatmap(page);
      await dropFiles(page, tid('drop-zone'), [
        { name: MODEL, type: 'application/octet-stream', bytes: sharedFile('zoo/' + MODEL) },
      ]);
      const form = page.locator(tid('sidecar-form'));
      await form.waitFor({ state: 'visible', timeout: APP_TIMEOUT });
      const loaded = await waitHeatmap(page, { model: MODEL });
      assert.notEqual(loaded.model, first.model, 'the dropped model is in use');
      assert.equal(loaded.width, 160);

      // Apply is in view when the form appears (its heading on screen, no scrolling by the test).
      const heading = form.locator('h3');
      const h0 = await heading.boundingBox();
      const headingVisible = h0.y >= 0 && h0.y + h0.height <= VIEWPORT.height;
      const atStart = await applyBox(page);
      console.log(`form heading at y = ${h0.y.toFixed(0)} (${headingVisible ? 'visible' : 'below the fold'}), ` +
        `Apply at ${JSON.stringify(atStart.box)} when the form appears`);
      if (headingVisible) assert.ok(atStart.inside, `Apply is outside the 1280×800 viewport: ${JSON.stringify(atStart.box)}`);
      // And wherever the heading is on screen: at the top, in the middle.
      for (const block of ['start', 'center']) {
        await heading.evaluate((h, block) => h.scrollIntoView({ block }), block);
        const { box, inside } = await applyBox(page);
        assert.ok(inside, `heading scrolled to the ${block}: Apply at ${JSON.stringify(box)} is outside the viewport`);
      }

      // The guessed values, per channel.
      assert.equal(await form.locator('input[name="scale"]').inputValue(), '1/255');
      await waitText(page, 'form-formula', ['R: (x · 0.00392157 − 0) / 1', 'G: (x · 0.00392157 − 0) / 1', 'B: (x · 0.00392157 − 0) / 1']);
      await waitText(page, 'form-range', ['R: [0, 1]', 'G: [0, 1]', 'B: [0, 1]']);
      assert.equal(await page.locator(tid('form-warning')).count(), 0, 'no warning for the guessed values');

      // Mean/std in pixel units with scale 1/255: every input ≈ −0.99. Live, before any Apply.
      await form.locator('input[name="mean"]').fill('127,127,127');
      await form.locator('input[name="std"]').fill('128,128,128');
      await waitText(page, 'form-formula', ['R: (x · 0.00392157 − 127) / 128', 'B: (x · 0.00392157 − 127) / 128']);
      await waitText(page, 'form-range', ['R: [−0.9922, −0.9844]']);
      const warning = page.locator(tid('form-warning'));
      await warning.waitFor({ state: 'visible', timeout: 10000 });
      const said = (await warning.innerText()).trim();
      console.log(`form warning: ${JSON.stringify(said)}`);
      assert.match(said, /Nearly constant input/, 'the warning names the problem');
      assert.match(said, /R, G and B span only 0\.0078 \(R ∈ \[−0\.9922, −0\.9844\]\)/, 'the warning gives the width and a range');
      assert.match(said, /Below 0\.05/, 'the warning gives the threshold');
      assert.match(said, /Fix: Mean 127, 127, 127 and std 128, 128, 128 are in 0–255 pixel units, but x · scale is in 0–1 \(scale 1\/255\): set scale to 1, or divide mean and std by 255/, 'the warning says the fix');
      assert.equal(await warning.evaluate((w) => !!w.closest('[aria-live="polite"]') || w.getAttribute('role') === 'alert'), true,
        'the warning is announced (role="alert" or inside an aria-live="polite" region)');
      assert.equal(await page.locator(tid('sidecar-apply')).isEnabled(), true, 'a warning does not block Apply');
      // The form's lower part with the formula, the range, the warning and Apply (the form's bottom at
      // the viewport's bottom); then what the user sees with the heading at the top of the viewport:
      // the Apply bar stuck to the viewport's bottom, over the rest of the (taller) form.
      await form.evaluate((f) => f.scrollIntoView({ block: 'end' }));
      await viewShot(page, 'form-warning');
      await heading.evaluate((h) => h.scrollIntoView({ block: 'start' }));
      await viewShot(page, 'form-warning-viewport');
      const withWarning = await applyBox(page);
      assert.ok(withWarning.inside, `with the warning shown, Apply at ${JSON.stringify(withWarning.box)} is outside the viewport`);

      // The fix: scale 1 (Lite0's convention, [−0.99, 1]).
      await form.locator('input[name="scale"]').fill('1');
      await warning.waitFor({ state: 'detached', timeout: 10000 });
      await waitText(page, 'form-formula', ['R: (x · 1 − 127) / 128']);
      await waitText(page, 'form-range', ['R: [−0.9922, 1]']);

      // std 0: an invalid number, named, and Apply disabled.
      await form.locator('input[name="std"]').fill('0,128,128');
      const invalid = page.locator(tid('form-invalid'));
      await invalid.waitFor({ state: 'visible', timeout: 10000 });
      const why = (await invalid.innerText()).trim();
      console.log(`invalid message: ${JSON.stringify(why)}`);
      assert.match(why, /Std of R is 0: division by zero/);
      assert.equal(await page.locator(tid('sidecar-apply')).isDisabled(), true, 'Apply is disabled with an invalid value');
      assert.equal(await form.locator('input[name="std"]').getAttribute('aria-invalid'), 'true');
      await form.evaluate((f) => f.scrollIntoView({ block: 'end' }));
      await viewShot(page, 'form-invalid');

      // Valid again: Apply reloads the model with the edited preprocessing, and a heatmap is ready again.
      await form.locator('input[name="std"]').fill('128,128,128');
      await invalid.waitFor({ state: 'detached', timeout: 10000 });
      const before = await canvasPixels(page, tid('heatmap-canvas'));
      const busySeen = await watchBusy(page);
      await page.locator(tid('sidecar-apply')).click();
      await busySeen();
      const applied = await waitHeatmap(page, { model: MODEL });
      await page.evaluate(() => window.scrollTo(0, 0));
      await viewShot(page, 'form-applied');
      const after = await canvasPixels(page, tid('heatmap-canvas'));
      assert.ok(pixelDiff(before, after, 0).over > 0, 'the heatmap did not change with the new preprocessing');
      assert.equal(applied.width, 160);
      // The form shows the preprocessing now in force.
      await form.waitFor({ state: 'visible', timeout: 10000 });
      assert.equal(await form.locator('input[name="scale"]').inputValue(), '1');
      await waitText(page, 'form-formula', ['R: (x · 1 − 127) / 128']);
      assert.match(await form.locator('.hint').first().textContent(), /values you applied/, 'the hint no longer says "guessed"');
      assert.equal(await page.locator(tid('error-banner')).isVisible(), false, 'no error');
      assert.deepEqual(problems.console, [], 'console errors');
    } finally {
      await context.close();
    }
  });
});
