// The report of a multi-label run, from a run folder made here (meta.json, history.json with mAP,
// an evaluation.json as `tlkit evaluate` writes one, real JPEGs for the thumbnails): the figures,
// the per-label table, one precision-recall curve per label (inline and as files), mAP beside
// the loss, the top losses per label, and nothing of what only a single-label run has.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../io/rng.js';
import { chooseThresholds, multiLabelMetrics, type MultiLabelMetrics } from '../run/multiLabelMetrics.js';
import { buildReport } from '../cli/commands/report.js';
import { UserError } from '../errors.js';
import { launchChromium, needsChromium } from '../testing/chromium.js';
import { requiring } from '../testing/requirements.js';
import { topLossesPerLabel } from './multiLabelLosses.js';
import { multiLabelSummaryText } from './multiLabelReport.js';

const classes = ['bw', 'cats', 'dogs'];
let root = '';
let run = '';
let html = '';
let summary = '';
let metrics: MultiLabelMetrics;
let files: Array<{ file: string; label: number; scores: number[]; labels: string[]; predicted: string[] }> = [];

/** A run folder with everything `tlkit report` reads, and no evaluation.json yet. */
function writeRun(dir: string, thresholds: number[], data?: string): void {
  fs.mkdirSync(path.join(dir, 'model'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'model', 'model.json'), '{}');
  const now = new Date().toISOString();
  const meta = {
    version: 3,
    tool: 'tlkit',
    classes,
    labelMode: 'multi-label',
    thresholds,
    thresholdSource: 'validation-f1',
    preprocessing: 'mobilenet',
    imageSize: [16, 16],
    base: 'tiny',
    baseFamily: 'mobilenet',
    baseSource: 'tfjs model tiny',
    mode: 'features',
    head: { units: 8, dropout: 0.5, pooling: 'avg' },
    bestEpoch: 2,
    bestValLoss: 0.21,
    epochsDone: 3,
    finished: true,
    ...(data ? { data } : {}),
    options: { epochs: 3, ...(data ? { labels: 'labels.csv', labelDelim: ' ' } : {}) },
    timings: {},
    createdAt: now,
    updatedAt: now,
  };
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
  const history = {
    epoch: [0, 1, 2],
    history: {
      loss: [0.6, 0.4, 0.3],
      val_loss: [0.5, 0.3, 0.21],
      accuracy: [0.7, 0.8, 0.85],
      val_accuracy: [0.72, 0.81, 0.86],
      map: [0.6, 0.8, 0.9],
      val_map: [0.65, 0.82, 0.93],
    },
  };
  fs.writeFileSync(path.join(dir, 'history.json'), JSON.stringify(history));
}

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const images = path.join(root, 'images');
  fs.mkdirSync(images);
  const rng = new Rng(3);
  const n = 24;
  const truth: number[] = [];
  const probs: number[] = [];
  for (let i = 0; i < n; i++) {
    const file = path.join(images, `img${String(i).padStart(2, '0')}.jpg`);
    await sharp({ create: { width: 24, height: 24, channels: 3, background: { r: 10 * i, g: 100, b: 200 - 5 * i } } })
      .jpeg()
      .toFile(file);
    // Every image has cats or dogs or both; bw on every third.
    const row = [i % 3 === 0 ? 1 : 0, i % 4 !== 3 ? 1 : 0, i % 4 !== 0 ? 1 : 0];
    const p = row.map((t) => Math.min(1, Math.max(0, (t ? 0.7 : 0.3) + (rng.next() - 0.5) * 0.8)));
    truth.push(...row);
    probs.push(...p);
  }
  // The table the run was trained from: the first 16 images train, the rest validation.
  const rows = Array.from(
    { length: n },
    (_, i) => `img${String(i).padStart(2, '0')}.jpg,${classes.filter((_, c) => truth[i * 3 + c]).join(' ')},${i >= 16}`,
  );
  fs.writeFileSync(path.join(images, 'labels.csv'), `file,labels,is_valid\n${rows.join('\n')}\n`);
  const thresholds = chooseThresholds(probs, truth, 3);
  metrics = multiLabelMetrics(probs, truth, classes, thresholds);
  files = Array.from({ length: n }, (_, i) => {
    const scores = probs.slice(i * 3, i * 3 + 3);
    return {
      file: path.join(images, `img${String(i).padStart(2, '0')}.jpg`),
      label: -1,
      scores,
      labels: classes.filter((_, c) => truth[i * 3 + c] === 1),
      predicted: classes.filter((_, c) => scores[c] >= thresholds[c]),
    };
  });
  run = path.join(root, 'run');
  writeRun(run, thresholds, images);
  const evaluation = {
    accuracy: metrics.exactMatch,
    loss: 0.4321,
    n,
    classes,
    confusion: [],
    precision: metrics.perClass.map((c) => c.precision),
    recall: metrics.perClass.map((c) => c.recall),
    f1: metrics.perClass.map((c) => c.f1),
    support: metrics.perClass.map((c) => c.support),
    multiLabel: metrics,
    dir: images,
    files,
    seconds: 1.5,
    imagesPerSecond: 16,
  };
  fs.writeFileSync(path.join(run, 'evaluation.json'), JSON.stringify(evaluation));
  html = fs.readFileSync(await buildReport(run, { summary: (t) => (summary = t) }), 'utf8');
});

test('the evaluation shows mAP, micro/macro F1, exact match, Hamming loss and a per-label table with AP and threshold', () => {
  const figures = html.match(/<table class="kv" id="multi-label-figures">(.*?)<\/table>/s)?.[1] ?? '';
  assert.ok(figures.includes(`<th>mAP</th><td>${metrics.meanAveragePrecision.toFixed(4)}</td>`));
  assert.ok(figures.includes(`<th>Micro-F1</th><td>${metrics.microF1.toFixed(4)}</td>`));
  assert.ok(figures.includes(`<th>Macro-F1</th><td>${metrics.macroF1.toFixed(4)}</td>`));
  assert.ok(figures.includes(`<th>Exact match</th><td>${metrics.exactMatch.toFixed(4)} (`));
  assert.ok(figures.includes(`<th>Hamming loss</th><td>${metrics.hammingLoss.toFixed(4)} (`));
  assert.ok(figures.includes('<th>Loss</th><td>0.4321 (binary cross-entropy'));
  const t = metrics.thresholds.map((x) => x.toPrecision(3));
  assert.ok(
    figures.includes(`<th>Thresholds</th><td>bw ${t[0]}, cats ${t[1]}, dogs ${t[2]} (each label's F1-best on the validation images;`),
  );
  const perClass = html.match(/<table class="per-class" id="per-class">(.*?)<\/table>/s)?.[1] ?? '';
  assert.match(perClass, /<th>label<\/th><th>precision<\/th><th>recall<\/th><th>F1<\/th><th>AP<\/th><th>support<\/th><th>threshold<\/th>/);
  for (const c of metrics.perClass) {
    const row = `<tr><th>${c.name}</th><td>${c.precision.toFixed(4)}</td><td>${c.recall.toFixed(4)}</td><td>${c.f1.toFixed(4)}</td><td>${c.averagePrecision.toFixed(4)}</td><td>${c.support}</td><td>${c.threshold.toPrecision(3)}</td></tr>`;
    assert.ok(perClass.includes(row), row);
  }
  assert.deepEqual(
    metrics.perClass.map((c) => c.support),
    [8, 18, 18],
  );
  // What a single-label report has and a multi-label one cannot: no confusion matrix, ECE, reliability diagram or top-class gallery.
  for (const absent of ['id="confusion"', 'ECE', 'reliability-chart', 'id="wrong"', 'Most confidently wrong'])
    assert.ok(!html.includes(absent), absent);
  assert.match(html, /<th>Labels<\/th><td>multi-label: one sigmoid per label \(3\)/);
  assert.match(
    html,
    /<th>Head<\/th><td>GlobalAveragePooling2D -&gt; Dense\(8, relu\) -&gt; Dropout\(0\.5\) -&gt; Dense\(3, sigmoid\)<\/td>/,
  );
  assert.match(html, /<th>Calibration<\/th><td>none \(multi-label: each label has its own threshold instead\)<\/td>/);
  assert.match(html, /<p>Labels bw, cats, dogs \(multi-label\): features mode/);
  assert.match(html, /<th>Best epoch<\/th><td>3 \(val_loss 0\.2100, val_accuracy 0\.8600, val_map 0\.9300\)<\/td>/);
});

test("the data section counts each label's images in the run's table, train and validation rows apart", () => {
  const counts = html.match(/<table class="counts" id="counts">(.*?)<\/table>/s)?.[1] ?? '';
  assert.match(html, /Images per label in .*images, from the table labels\.csv \(an image counts under each of its labels\)/);
  assert.match(counts, /<th>label<\/th><th>train<\/th><th>validation<\/th>/);
  // Of images 0-15, bw on every third (0, 3, ..., 15: 6); cats unless i % 4 == 3 (12); dogs unless i % 4 == 0 (12).
  assert.match(counts, /<tr><th>bw<\/th><td>6<\/td><td>2<\/td><\/tr>/);
  assert.match(counts, /<tr><th>cats<\/th><td>12<\/td><td>6<\/td><\/tr>/);
  assert.match(counts, /<tr><th>dogs<\/th><td>12<\/td><td>6<\/td><\/tr>/);
  assert.match(counts, /<tr><th>images<\/th><td>16<\/td><td>8<\/td><\/tr>/);
});

test('one precision-recall curve per label, inline and as PNG and SVG files in pr-curves/', async () => {
  for (const [i, c] of metrics.perClass.entries()) {
    const figure = html.match(new RegExp(`<figure id="pr-curve-${i}">(.*?)</figure>`, 's'))?.[1] ?? '';
    assert.ok(figure.includes(`aria-label="Precision-recall: ${c.name} (AP ${c.averagePrecision.toFixed(3)})"`), c.name);
    assert.match(figure, /<polyline class="curve"/);
    assert.match(figure, /<circle class="threshold"/);
    const svg = fs.readFileSync(path.join(run, 'pr-curves', `${c.name}.svg`), 'utf8');
    assert.equal(svg, figure);
    const png = await sharp(path.join(run, 'pr-curves', `${c.name}.png`)).metadata();
    assert.deepEqual([png.width, png.height], [960, 720]);
  }
});

test('the curves show mAP beside the loss, then the binary accuracy', () => {
  const charts = html.match(/<h2>Training curves<\/h2>\n<div class="charts">(.*?)<\/div>/s)?.[1] ?? '';
  const ids = [...charts.matchAll(/<figure id="([^"]+)">/g)].map((m) => m[1]);
  assert.deepEqual(ids, ['map-chart', 'loss-chart', 'accuracy-chart']);
  assert.match(charts, /aria-label="Training and validation mAP"/);
  assert.match(charts, /aria-label="Training and validation binary accuracy"/);
  const map = charts.match(/<figure id="map-chart">(.*?)<\/figure>/s)?.[1] ?? '';
  assert.equal(map.match(/<circle class="training"/g)?.length, 3);
});

test('top losses per label: the images with the largest binary cross-entropy for each label, with thumbnails', () => {
  const section = html.match(/<h2>Top losses per label<\/h2>\n(.*?)\n<h2>/s)?.[1] ?? '';
  const expected = topLossesPerLabel(files, classes, metrics.thresholds, 6);
  const groups = section.split(/<h3>/).slice(1);
  assert.deepEqual(
    groups.map((g) => g.slice(0, g.indexOf('</h3>'))),
    classes,
  );
  groups.forEach((g, c) => {
    const shown = [...g.matchAll(/<span class="file">([^<]+)<\/span>/g)].map((m) => m[1]);
    assert.deepEqual(
      shown,
      expected[c].items.map((i) => path.basename(i.file)),
      classes[c],
    );
    const losses = [...g.matchAll(/loss ([\d.]+):/g)].map((m) => Number(m[1]));
    for (let i = 1; i < losses.length; i++) assert.ok(losses[i - 1] >= losses[i], 'highest loss first');
  });
  assert.ok(expected.some((g) => g.items.length > 0));
  assert.match(section, /<b>(missed|given wrongly|right \((not )?given\), unsure)<\/b>/);
  for (const m of section.matchAll(/<img src="([^"]{0,30})/g)) assert.ok(m[1].startsWith('data:image/jpeg;base64,'));
});

test('`tlkit report` prints the multi-label figures: the overall line and one row per label', () => {
  assert.equal(
    summary,
    multiLabelSummaryText({ dir: files.length ? path.dirname(files[0].file) : '', n: files.length, multiLabel: metrics }),
  );
  const lines = summary.split('\n');
  assert.match(lines[0], /^Multi-label evaluation on .*images \(24 images\):$/);
  assert.equal(
    lines[1],
    `  mAP ${metrics.meanAveragePrecision.toFixed(4)}, micro-F1 ${metrics.microF1.toFixed(4)}, macro-F1 ${metrics.macroF1.toFixed(4)}, exact match ${metrics.exactMatch.toFixed(4)}, Hamming loss ${metrics.hammingLoss.toFixed(4)}`,
  );
  assert.match(lines[2], /^ {2}label\s+precision\s+recall\s+F1\s+AP\s+support\s+threshold$/);
  const cats =
    lines
      .find((l) => l.startsWith('  cats'))
      ?.trim()
      .split(/\s+/) ?? [];
  const c = metrics.perClass[1];
  assert.deepEqual(cats, [
    'cats',
    c.precision.toFixed(4),
    c.recall.toFixed(4),
    c.f1.toFixed(4),
    c.averagePrecision.toFixed(4),
    '18',
    c.threshold.toPrecision(3),
  ]);
});

test('a multi-label run with no evaluation: a report that says how to evaluate it; --data is refused with the command to run', async () => {
  const bare = path.join(root, 'bare');
  writeRun(bare, [0.5, 0.5, 0.5]);
  let printed = '';
  const page = fs.readFileSync(await buildReport(bare, { summary: (t) => (printed = t) }), 'utf8');
  assert.match(
    page,
    /Not evaluated: a multi-label run is evaluated on a table of images and their labels\. Run `tlkit evaluate --model .*bare --data DIR --labels FILE`/,
  );
  assert.match(page, /id="map-chart"/);
  assert.equal(printed, '');
  assert.ok(!fs.existsSync(path.join(bare, 'pr-curves')));
  await assert.rejects(
    buildReport(bare, { data: path.join(root, 'images') }),
    (e: Error) => e instanceof UserError && /multi-label run.*tlkit evaluate --model .*bare --data .*images --labels FILE/.test(e.message),
  );
});

test(
  'the multi-label report renders in headless Chromium: curves, tables and thumbnails visible, no console errors',
  requiring(needsChromium, async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`file://${path.join(run, 'report.html')}`);
      for (const id of ['#map-chart svg', '#loss-chart svg', '#pr-curve-0 svg', '#pr-curve-2 svg', '#per-class', '#multi-label-figures']) {
        const box = await page.locator(id).boundingBox();
        assert.ok(box && box.width > 200 && box.height > 50, `${id} visible: ${JSON.stringify(box)}`);
      }
      // The three curves sit side by side on a wide page.
      const tops = await Promise.all([0, 1, 2].map(async (i) => (await page.locator(`#pr-curve-${i}`).boundingBox())?.y));
      assert.equal(new Set(tops).size, 1, `${tops}`);
      const thumbs = page.locator('#top-losses img');
      assert.ok((await thumbs.count()) > 0);
      assert.ok(await thumbs.first().evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0));
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  }),
);
