import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../io/rng.js';
import { averagePrecision } from '../run/multiLabelMetrics.js';
import { prCurveChart, prCurveSvg, writePrCurves } from './prCurve.js';

/** The drawing's plot box, as prCurveSvg lays it out (640 x 480, margins 72/24/48/60, precision up to 1.05). */
const toData = ([x, y]: number[]) => [(x - 72) / (640 - 72 - 24), (1 - (y - 48) / (480 - 48 - 60)) * 1.05];

/** The area under the drawn staircase, in recall x precision units. */
function drawnArea(svg: string): number {
  const pts = (svg.match(/<polyline class="curve" points="([^"]+)"/)?.[1] ?? '').split(' ').map((p) => toData(p.split(',').map(Number)));
  let area = 0;
  // Horizontal segments (equal y) carry the area; the vertical ones join them.
  for (let i = 1; i < pts.length; i++) if (Math.abs(pts[i][1] - pts[i - 1][1]) < 1e-9) area += (pts[i][0] - pts[i - 1][0]) * pts[i][1];
  return area;
}

test("a label's curve: one point per distinct score, the threshold's operating point, the AP", () => {
  const c = prCurveChart('cats', [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.35);
  assert.deepEqual(c.recall, [0.5, 0.5, 1, 1]);
  assert.deepEqual(c.precision, [1, 0.5, 2 / 3, 0.5]);
  assert.deepEqual(c.threshold, { value: 0.35, recall: 1, precision: 2 / 3 });
  assert.ok(Math.abs(c.averagePrecision - 5 / 6) < 1e-12);
  assert.deepEqual([c.support, c.n], [2, 4]);
  const svg = prCurveSvg(c);
  assert.match(svg, /<title>Precision-recall: cats \(AP 0\.833\)<\/title>/);
  for (const label of ['Recall', 'Precision', 'Threshold 0.350: precision 0.667, recall 1.000', 'Chance (2 of 4 images)'])
    assert.ok(svg.includes(`<title>${label}</title>`), label);
  assert.doesNotMatch(svg, /<text/, 'text is drawn as strokes');
  // The staircase: precision 1 up to recall 0.5, then 2/3 up to 1; its area is the AP.
  assert.equal(svg.match(/<polyline class="curve" points="([^"]+)"/)?.[1].split(' ').length, 4);
  assert.ok(Math.abs(drawnArea(svg) - 5 / 6) < 1e-3, `${drawnArea(svg)}`);
  // The dot sits at (recall 1, precision 2/3).
  const dot = svg.match(/<circle class="threshold" cx="([\d.]+)" cy="([\d.]+)"/);
  assert.ok(dot);
  const [x, y] = toData([Number(dot[1]), Number(dot[2])]);
  assert.ok(Math.abs(x - 1) < 1e-3 && Math.abs(y - 2 / 3) < 1e-3, `${x}, ${y}`);
});

test('the drawn area equals average precision on random labels with ties', () => {
  const rng = new Rng(5);
  for (let trial = 0; trial < 20; trial++) {
    const n = 5 + Math.floor(rng.next() * 60);
    const s = Array.from({ length: n }, () => Math.round(rng.next() * 12) / 12);
    const y = Array.from({ length: n }, () => (rng.next() < 0.4 ? 1 : 0));
    if (!y.includes(1)) continue;
    const svg = prCurveSvg(prCurveChart('x', s, y, 0.5));
    assert.ok(Math.abs(drawnArea(svg) - averagePrecision(s, y)) < 2e-3, `trial ${trial}`);
  }
});

test('a label no image has: the plot says so and draws no curve', () => {
  const svg = prCurveSvg(prCurveChart('bw', [0.2, 0.7], [0, 0], 0.5));
  assert.ok(svg.includes('<title>No image has the label bw: no curve.</title>'));
  assert.doesNotMatch(svg, /class="curve"|class="threshold"/);
});

test('writePrCurves writes an SVG and a PNG per label, file names made safe and kept apart', async () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-')), 'pr-curves');
  const charts = ['a b', 'a_b', 'dogs', '../up'].map((name) => prCurveChart(name, [0.9, 0.2, 0.6], [1, 0, 1], 0.5));
  const files = await writePrCurves(charts, dir);
  assert.deepEqual(
    files.map((f) => path.basename(f.svg)),
    ['a_b-0.svg', 'a_b-1.svg', 'dogs.svg', '__up.svg'],
  );
  for (const f of files) {
    assert.equal(path.dirname(f.png), dir);
    assert.match(fs.readFileSync(f.svg, 'utf8'), /^<svg /);
    const meta = await sharp(f.png).metadata();
    assert.deepEqual([meta.width, meta.height], [960, 720]);
  }
});

test("the legend leaves the curve visible: bottom left usually, another corner when a poor label's curve runs there", () => {
  const legendY = (svg: string) => Number(svg.match(/<rect class="legend" x="[\d.]+" y="([\d.]+)"/)?.[1]);
  const good = prCurveSvg(prCurveChart('good', [0.9, 0.8, 0.7, 0.2], [1, 1, 1, 0], 0.5));
  assert.ok(legendY(good) > 300, 'bottom');
  // Positives ranked below most negatives: precision stays under 0.3 at every recall.
  const scores = Array.from({ length: 40 }, (_, i) => i / 40);
  const truth = scores.map((_, i) => (i % 5 === 0 ? 1 : 0));
  const poor = prCurveSvg(prCurveChart('poor', scores, truth, 0.5));
  assert.ok(legendY(poor) < 100, 'top');
});
