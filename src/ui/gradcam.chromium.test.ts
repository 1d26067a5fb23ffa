// "Why?" in headless Chromium: the Grad-CAM overlay of the image picked in Try it, and of a top
// loss in Results, computed by the server and shown in the page; a top loss whose file is
// gone says why in the results' message line. A run on images whose class lies in one
// quadrant (testing/quadrants.ts), trained briefly so that it leaves some losses to explain.
// The page's modules come from dist/ (build them with `npx tsc -p tsconfig.build.json`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { listImageFiles } from '../data/splits.js';
import { launchChromium, needsChromium } from '../testing/chromium.js';
import { tempDir } from '../testing/images.js';
import { makeQuadrantBase, makeQuadrantDataset, QUADRANT_SIZE } from '../testing/quadrants.js';
import { requiring, unmet } from '../testing/requirements.js';
import { train } from '../workflows/train.js';
import { pageDir, startUiServer, type UiServer } from './server.js';

let root = '';
let data = '';
let server: UiServer | undefined;
const needsPage = {
  missing: !fs.existsSync(path.join(pageDir(), 'gradcam.js')) && `the page's compiled modules (with gradcam.js) are not in ${pageDir()}`,
  install: 'npx tsc -p tsconfig.build.json',
};

before(async () => {
  if (unmet([needsChromium, needsPage])) return;
  root = tempDir();
  data = await makeQuadrantDataset(path.join(root, 'data'), { train: 24, validation: 12 });
  const runs = path.join(root, 'runs');
  process.env.TLKIT_CACHE = path.join(root, 'cache');
  await train(
    {
      data,
      base: await makeQuadrantBase(path.join(root, 'base')),
      out: path.join(runs, 'quadrants'),
      epochs: 1,
      batchSize: 16,
      headUnits: 8,
      learningRate: 1e-4,
      verbose: 0,
    },
    { log: () => {} },
  );
  server = await startUiServer({ runs, data });
});

after(async () => {
  await server?.close();
});

/** Wait until `img` shows a loaded picture `width` pixels wide. */
async function waitLoaded(page: Page, img: Locator, width: number): Promise<void> {
  const handle = await img.elementHandle();
  await page.waitForFunction(
    ([e, w]) => {
      const i = e as HTMLImageElement;
      return !i.hidden && i.complete && i.naturalWidth === w;
    },
    [handle, width] as const,
    { timeout: 60_000 },
  );
}

test(
  'tlkit ui, Why?: Try it shows the overlay of the picked image, a top loss shows its own, a missing file says why',
  requiring([needsChromium, needsPage], async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto((server as UiServer).url);
      await page.waitForSelector('body[data-ready=true]');
      await page.waitForSelector('#runs input[type=radio][value=quadrants]');
      await page.check('#runs input[type=radio][value=quadrants]');
      await page.waitForFunction(() => !(document.getElementById('evaluate') as HTMLButtonElement).disabled);

      // Try it: no Why? before an image; after one, its overlay at the photo's own size, the label the page printed.
      assert.equal(await page.locator('#try-why').isVisible(), false);
      const photo = listImageFiles(path.join(data, 'validation', 'reds'))[0];
      await page.setInputFiles('#try-file', photo);
      await page.waitForFunction(() => (document.getElementById('try-result')?.textContent ?? '') !== '', undefined, { timeout: 60_000 });
      const predicted = (JSON.parse((await page.textContent('#try-result')) ?? '{}') as { label: string }).label;
      await page.click('#try-why');
      await waitLoaded(page, page.locator('#try-gradcam'), QUADRANT_SIZE);
      assert.match((await page.getAttribute('#try-gradcam', 'src')) ?? '', /^blob:/);
      assert.equal(await page.getAttribute('#try-gradcam', 'data-label'), predicted, 'the label Try it printed is the one explained');
      assert.equal(await page.textContent('#try-why'), 'Hide why');
      await page.click('#try-why');
      assert.equal(await page.locator('#try-gradcam').isVisible(), false, 'a second click hides it');
      if (process.env.TLKIT_UI_SCREENSHOTS) {
        await page.click('#try-why');
        await waitLoaded(page, page.locator('#try-gradcam'), QUADRANT_SIZE);
        await page.locator('#try').screenshot({ path: path.join(process.env.TLKIT_UI_SCREENSHOTS, 'why-try-it.png') });
      }

      // Results: evaluate (the validation images), then a top loss's Why?.
      await page.click('#evaluate');
      await page.waitForSelector('#top-losses .loss button.why', { timeout: 60_000 });
      const losses = page.locator('#top-losses .loss');
      assert.ok((await losses.count()) >= 2, 'the brief training leaves losses to explain');
      await losses.nth(0).locator('button.why').click();
      await waitLoaded(page, losses.nth(0).locator('img.gradcam'), QUADRANT_SIZE);
      assert.equal(await losses.nth(0).locator('img.gradcam').isVisible(), true);
      if (process.env.TLKIT_UI_SCREENSHOTS)
        await page.locator('#results').screenshot({ path: path.join(process.env.TLKIT_UI_SCREENSHOTS, 'why-top-loss.png') });

      // A top loss whose file went away: the message line says so, and no overlay appears.
      const gone = (await losses.nth(1).getAttribute('title')) ?? '';
      fs.renameSync(gone, `${gone}.moved`);
      await losses.nth(1).locator('button.why').click();
      await page.waitForFunction(() => /No Grad-CAM: No image/.test(document.getElementById('results-message')?.textContent ?? ''));
      assert.match((await page.getAttribute('#results-message', 'class')) ?? '', /error/);
      assert.equal(await losses.nth(1).locator('img.gradcam').isVisible(), false);
      fs.renameSync(`${gone}.moved`, gone);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  }),
);
