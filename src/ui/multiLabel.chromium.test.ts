// `tlkit ui` with a multi-label labels table, in headless Chromium: a flat folder with labels.csv
// (several labels a row, separated by spaces) is opened, the form names the table, trains from
// it, and the results show mAP and the per-class table (evaluation.json's multiLabel); Try it
// shows every label with its probability and ticks the labels tlkit's own inference gives.
// The page's modules come from dist/ (npm run build), as for ui.chromium.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadClassifier } from '../inference/classifier.js';
import { listImageFiles } from '../data/splits.js';
import { readMeta } from '../run/meta.js';
import type { MultiLabelMetrics } from '../run/multiLabelMetrics.js';
import { launchChromium, needsChromium } from '../testing/chromium.js';
import { tempDir } from '../testing/images.js';
import { requiring, unmet } from '../testing/requirements.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { pageDir, startUiServer, type UiServer } from './server.js';

let root = '';
let flat = '';
let base = '';
let server: UiServer | undefined;
const needsPage = {
  missing: !fs.existsSync(path.join(pageDir(), 'main.js')) && `the page's compiled modules are not in ${pageDir()}`,
  install: 'npm run build',
};

before(async () => {
  if (unmet([needsChromium, needsPage])) return;
  root = tempDir();
  const data = await makeTinyDataset(path.join(root, 'data'));
  base = await makeTinyBase(path.join(root, 'base'));
  // Kaggle's layout: every image in one folder, the labels in a table; every other image also 'odd'
  flat = path.join(root, 'flat');
  fs.mkdirSync(flat);
  const rows = ['image_name,tags,is_valid'];
  for (const split of ['train', 'validation'])
    for (const c of ['cats', 'dogs'])
      listImageFiles(path.join(data, split, c)).forEach((f, i) => {
        const name = `${split}-${c}-${i}.png`;
        fs.copyFileSync(f, path.join(flat, name));
        rows.push(`${name},${i % 2 ? `${c} odd` : c},${split === 'validation'}`);
      });
  fs.writeFileSync(path.join(flat, 'labels.csv'), `${rows.join('\n')}\n`);
  process.env.TLKIT_CACHE = path.join(root, 'cache');
  server = await startUiServer({ runs: path.join(root, 'runs') });
});

after(async () => {
  await server?.close();
});

test(
  'tlkit ui, multi-label: a flat folder with labels.csv trains from the form; results show mAP per class; Try it ticks the labels tlkit gives',
  requiring([needsChromium, needsPage], async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto((server as UiServer).url);
      await page.waitForSelector('body[data-ready=true]');

      // 1. Data: no class folders, but a table: the page says so and the form's table field starts on it.
      await page.fill('#data-path', flat);
      await page.click('#data-open');
      await page.waitForFunction(() => /labels\.csv/.test(document.getElementById('data-message')?.textContent ?? ''));
      assert.match(
        (await page.textContent('#data-message')) ?? '',
        /It holds labels\.csv: to train from a labels table, name it under 2\. Train/,
      );
      assert.equal(await page.inputValue('#train-form [name=labels]'), 'labels.csv');
      assert.ok(await page.locator('#train-form details[data-group=labels]').evaluate((d) => (d as HTMLDetailsElement).open));

      // 2. Train from the table: a space separates the labels (typed as it is), multi-label ticked.
      const fields: Record<string, string> = {
        base,
        labelDelim: ' ',
        epochs: '2',
        batchSize: '8',
        headUnits: '8',
        learningRate: '0.01',
        run: 'tags',
      };
      for (const [name, value] of Object.entries(fields)) {
        const field = `#train-form [name=${name}]`;
        await page.$eval(field, (e) => e.closest('details')?.setAttribute('open', ''));
        await page.fill(field, value);
      }
      await page.check('#train-form [name=multiLabel]');
      await page.click('#train-start');
      await page.waitForFunction(() => /Best epoch \d/.test(document.getElementById('train-message')?.textContent ?? ''), undefined, {
        timeout: 120_000,
      });
      const run = path.join(root, 'runs', 'tags');
      const meta = await readMeta(run);
      assert.equal(meta.labelMode, 'multi-label');
      assert.deepEqual(meta.classes, ['cats', 'dogs', 'odd']);
      const thresholds = meta.thresholds as number[];
      assert.equal(thresholds.length, 3);
      // the runs table: a multi-label run's validation mAP beside its (binary) accuracy
      await page.waitForFunction(() => /\(mAP \d\.\d{3}\)/.test(document.getElementById('runs-table')?.textContent ?? ''), undefined, {
        timeout: 30_000,
      });

      // 3. Results (evaluated when training ends): mAP and the per-class table are evaluation.json's.
      await page.waitForSelector('#per-class-table', { timeout: 60_000 });
      const evaluation = JSON.parse(fs.readFileSync(path.join(run, 'evaluation.json'), 'utf8')) as { multiLabel: MultiLabelMetrics };
      const m = evaluation.multiLabel;
      assert.match(
        (await page.textContent('#results-message')) ?? '',
        new RegExp(
          `^48 images of .*every row of the labels table labels\\.csv.*: mAP ${m.meanAveragePrecision.toFixed(4)}, exact match ${m.exactMatch.toFixed(4)}`,
        ),
      );
      const head = await page.$$eval('#per-class-table thead th', (c) => c.map((x) => x.textContent));
      assert.deepEqual(head, ['class', 'AP', 'precision', 'recall', 'F1', 'threshold', 'images']);
      const cells = await page.$$eval('#per-class-table tbody tr', (rows) =>
        rows.map((r) => Array.from(r.children).map((c) => c.textContent)),
      );
      assert.deepEqual(
        cells,
        m.perClass.map((c) => [
          c.name,
          ...[c.averagePrecision, c.precision, c.recall, c.f1, c.threshold].map((x) => x.toFixed(3)),
          String(c.support),
        ]),
      );
      assert.equal(await page.locator('#multi-label-summary').count(), 1);
      assert.equal(await page.locator('#confusion-matrix').count(), 0, 'no confusion matrix for several labels an image');
      assert.equal(await page.locator('#export-buttons [data-format=tm]').isDisabled(), true, 'no Teachable Machine export');
      assert.equal(await page.locator('#export-buttons [data-format=onnx]').isDisabled(), false);

      // 4. Try it: every label with its probability and threshold, the labels tlkit's inference gives ticked.
      const files = ['train-cats-0', 'train-cats-1', 'train-dogs-0', 'train-dogs-1', 'validation-cats-0', 'validation-dogs-1'].map((n) =>
        path.join(flat, `${n}.png`),
      );
      const clf = await loadClassifier(run);
      const want = await clf.scoresOfFiles(files);
      await clf.dispose();
      const seen = new Set<string>();
      for (let i = 0; i < files.length; i++) {
        await page.evaluate(() => {
          (document.getElementById('try-result') as HTMLElement).textContent = '';
        });
        await page.setInputFiles('#try-file', files[i]);
        await page.waitForFunction(() => (document.getElementById('try-result')?.textContent ?? '') !== '', undefined, { timeout: 60_000 });
        const got = JSON.parse((await page.locator('#try-result').textContent()) ?? '{}') as {
          labels: string[];
          probabilities: Array<{ label: string; probability: number; threshold: number; given: boolean }>;
        };
        const labels = meta.classes.filter((_, c) => want[i][c] >= thresholds[c]);
        seen.add(labels.join('+'));
        assert.deepEqual(got.labels, labels, path.basename(files[i]));
        for (const p of got.probabilities) {
          const c = meta.classes.indexOf(p.label);
          assert.ok(
            Math.abs(p.probability - want[i][c]) <= 1e-4,
            `${path.basename(files[i])} ${p.label}: page ${p.probability}, tlkit ${want[i][c]}`,
          );
          assert.equal(p.threshold, thresholds[c]);
        }
        const ticked = await page.$$eval('#probability-table tbody tr.given td:nth-child(2)', (c) => c.map((x) => x.textContent ?? ''));
        assert.deepEqual(ticked.sort(), [...labels].sort());
        assert.equal(await page.locator('#probability-table tbody tr').count(), 3);
        assert.equal(
          await page.textContent('#try-message'),
          `${path.basename(files[i])}: ${labels.length ? labels.join(', ') : 'no label reaches its threshold'}`,
        );
      }
      assert.ok(seen.size > 1, `the images got different label sets (${[...seen].join(', ')})`);
      if (process.env.TLKIT_UI_SCREENSHOTS)
        await page.screenshot({ path: path.join(process.env.TLKIT_UI_SCREENSHOTS, 'multi-label.png'), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  }),
);
