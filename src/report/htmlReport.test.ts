import { test, before } from 'node:test';
import { launchChromium, needsChromium } from '../testing/chromium.js';
import { requiring } from '../testing/requirements.js';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeTinyRun } from '../testing/tinyRun.js';
import { buildReport } from '../cli/commands/report.js';
import { mostConfidentlyWrong } from './htmlReport.js';

let run = '';
let html = '';
before(async () => {
  const r = await makeTinyRun(2);
  run = r.run;
  // A fresh run has no evaluation.json: the report evaluates on the training data's test/ split.
  await buildReport(run);
  // Then make every test image "wrong" (swap the true labels in evaluation.json), so the
  // gallery of confidently wrong images is full whatever the tiny model learned.
  const evalFile = path.join(run, 'evaluation.json');
  const evaluation = JSON.parse(fs.readFileSync(evalFile, 'utf8'));
  for (const f of evaluation.files) f.label = f.scores[0] >= f.scores[1] ? 1 : 0;
  fs.writeFileSync(evalFile, JSON.stringify(evaluation));
  html = fs.readFileSync(await buildReport(run, { top: 6 }), 'utf8');
});

test('mostConfidentlyWrong orders misclassified images by confidence', () => {
  const files = [
    { file: 'a', label: 0, scores: [0.2, 0.8] },
    { file: 'b', label: 0, scores: [0.9, 0.1] },
    { file: 'c', label: 1, scores: [0.99, 0.01] },
    { file: 'd', label: 1, scores: [0.6, 0.4] },
  ];
  assert.deepEqual(
    mostConfidentlyWrong(files, 10).map((w) => w.file),
    ['c', 'a', 'd'],
  );
  assert.deepEqual(
    mostConfidentlyWrong(files, 1).map((w) => w.file),
    ['c'],
  );
});

test('report.html is self-contained: config, inline SVG curves, confusion matrix, thumbnails', () => {
  assert.match(html, /<svg[^>]*aria-label="Training and validation accuracy"/);
  assert.match(html, /<svg[^>]*aria-label="Training and validation loss"/);
  assert.match(html, /id="confusion"/);
  assert.match(html, /features mode on tfjs model .*tiny-base/);
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'no network references');
  assert.equal(html.match(/<figure class="wrong">/g)?.length, 6);
  // Every image is inline.
  for (const m of html.matchAll(/<img src="([^"]{0,30})/g)) assert.ok(m[1].startsWith('data:image/jpeg;base64,'));
});

test(
  'report.html renders in headless Chromium: charts and thumbnails visible, no console errors',
  requiring(needsChromium, async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      const requests: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url());
      });
      await page.goto(`file://${path.join(run, 'report.html')}`);
      for (const id of ['#accuracy-chart svg', '#loss-chart svg', '#confusion']) {
        const box = await page.locator(id).boundingBox();
        assert.ok(box && box.width > 200 && box.height > 50, `${id} visible: ${JSON.stringify(box)}`);
      }
      // The training points and the validation line are drawn.
      assert.ok((await page.locator('#accuracy-chart circle.training').count()) >= 2);
      assert.equal(await page.locator('#loss-chart polyline.validation').count(), 1);
      const thumbs = page.locator('#wrong img');
      const n = await thumbs.count();
      assert.equal(n, 6);
      for (let i = 0; i < n; i++) {
        const ok = await thumbs.nth(i).evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0);
        assert.ok(ok, `thumbnail ${i} decoded`);
        assert.ok(await thumbs.nth(i).isVisible());
      }
      assert.deepEqual(errors, []);
      assert.deepEqual(requests, []);
    } finally {
      await browser.close();
    }
  }),
);
