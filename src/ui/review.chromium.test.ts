// The Review panel in headless Chromium, on real photos: a dog photo planted among the cats
// (testing/plantedPhotos.ts) shows among the run's top losses; relabelled to dogs in the panel,
// it moves and the journal holds the move; undo brings back the same bytes; relabelled again,
// a new training run's labels see a dog, and no image runs through the base again. The server
// refuses paths outside the data folder. The page's modules come from dist/
// (`npx tsc -p tsconfig.build.json`). Screenshots go to $TLKIT_UI_SCREENSHOTS when set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sha256Of } from '../review/execute.js';
import { journalPath, journalState, readJournal } from '../review/journal.js';
import { launchChromium, needsChromium } from '../testing/chromium.js';
import { tempDir } from '../testing/images.js';
import { BRIEF_RUN, cachedLabels, plantedPhotos } from '../testing/plantedPhotos.js';
import { requiring, unmet } from '../testing/requirements.js';
import { train } from '../workflows/train.js';
import { pageDir, startUiServer, type UiServer } from './server.js';

let root = '';
let data = '';
let planted = '';
let server: UiServer | undefined;
const needsPage = {
  missing:
    !fs.existsSync(path.join(pageDir(), 'reviewPanel.js')) && `the page's compiled modules (with reviewPanel.js) are not in ${pageDir()}`,
  install: 'npx tsc -p tsconfig.build.json',
};
const cacheDir = () => path.join(root, 'cache');

before(async () => {
  if (unmet([needsChromium, needsPage])) return;
  root = tempDir();
  ({ data, planted } = plantedPhotos(path.join(root, 'data'), { train: 20, validation: 10 }));
  await train({ ...BRIEF_RUN, data, cacheDir: cacheDir(), out: path.join(root, 'runs', 'brief') }, { log: () => {} });
  server = await startUiServer({ runs: path.join(root, 'runs'), data });
});

after(async () => {
  await server?.close();
});

test(
  'Review panel: the planted dog is a top loss; relabel, journal, undo byte for byte, relabel again; retraining sees a dog',
  requiring([needsChromium, needsPage], async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto((server as UiServer).url, { timeout: 120_000 });
      await page.waitForSelector('body[data-ready=true]');
      await page.check('#runs input[type=radio][value=brief]');
      await page.waitForFunction(() => !(document.getElementById('review-load') as HTMLButtonElement).disabled);
      await page.click('#review-load');
      const card = page.locator(`.review-item[data-file="${planted}"]`);
      await card.waitFor({ timeout: 120_000 });
      assert.equal(await card.locator('.reason-top-loss').count(), 1, 'listed as a top loss');
      assert.match((await card.textContent()) ?? '', /cats · run says dogs/);
      await page.waitForFunction(
        (f) => (document.querySelector(`.review-item[data-file="${f}"] img`) as HTMLImageElement | null)?.naturalWidth,
        planted,
      );
      if (process.env.TLKIT_UI_SCREENSHOTS)
        await page.locator('#review').screenshot({ path: path.join(process.env.TLKIT_UI_SCREENSHOTS, 'review-panel.png') });

      const bytes = fs.readFileSync(path.join(data, planted));
      const sha = sha256Of(path.join(data, planted));
      const moved = 'validation/dogs/planted.jpg';
      const relabel = async () => {
        await card.locator('select.review-to').selectOption('dogs');
        await card.locator('button', { hasText: 'Relabel' }).click();
        await page.waitForFunction(
          (f) =>
            !document.querySelector(`.review-item[data-file="${f}"]`) &&
            /done, in the journal/.test(document.getElementById('review-message')?.textContent ?? ''),
          planted,
        );
      };
      await relabel();
      assert.equal(fs.existsSync(path.join(data, planted)), false);
      assert.equal(sha256Of(path.join(data, moved)), sha);
      const move = journalState(readJournal(journalPath(data))).done.at(-1);
      assert.deepEqual([move?.action, move?.from, move?.to, move?.sha256], ['relabel', planted, moved, sha], 'the journal holds the move');
      assert.equal(await page.locator('#review-journal li[data-action=relabel]').count(), 1);

      // Undo from the journal: the same bytes at the same place.
      await page.locator('#review-journal li[data-action=relabel] button', { hasText: 'Undo' }).click();
      await page.waitForSelector('#review-journal li[data-action=undo]');
      await card.waitFor();
      assert.equal(fs.existsSync(path.join(data, moved)), false);
      assert.equal(sha256Of(path.join(data, planted)), sha);
      assert.deepEqual(fs.readFileSync(path.join(data, planted)), bytes);

      // Again, then a new run: the features come from the cache (no image through the base), the label is a dog's.
      await relabel();
      const second = await train({ ...BRIEF_RUN, data, cacheDir: cacheDir(), out: path.join(root, 'runs', 'after') }, { log: () => {} });
      assert.equal(second.timings.extractImages, 0);
      const labels = await cachedLabels(cacheDir(), 'validation');
      assert.equal(labels.get(moved), 1, "training's labels see a dog");
      assert.equal(labels.has(planted), false);

      // Paths outside the data folder are refused.
      // (a string: what the test runner's compiler adds to named functions does not exist in the page)
      const statuses = await page.evaluate(`(async () => {
        const post = (file) => fetch('/api/runs/brief/review/action', {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'quarantine', file }),
        }).then((r) => r.status);
        return [
          await post('../outside.jpg'),
          await post('/etc/passwd'),
          await post('validation/../../outside.jpg'),
          await fetch('/api/runs/brief/review/image/..%2F..%2Fetc%2Fpasswd').then((r) => r.status),
          await fetch('/api/runs/brief/review/image/validation/dogs/planted.jpg').then((r) => r.status),
        ];
      })()`);
      assert.deepEqual(statuses, [403, 403, 403, 403, 200]);

      // Another panel's request (the map's click or lasso): the files shown with the same buttons.
      await page.evaluate((f) => document.dispatchEvent(new CustomEvent('tlkit:review', { detail: { files: [f] } })), moved);
      await page.waitForSelector(`.review-item[data-file="${moved}"] .reason-selected`);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  }),
);
