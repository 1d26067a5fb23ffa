import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { lrFindSvg, writeLrFindPlot, type LrFindChart } from './lrFindPlot.js';

/** A fall then a rise over 1e-7 .. 1e1, 81 points a tenth of a decade apart. */
function curve(): LrFindChart {
  const rates = Array.from({ length: 81 }, (_, i) => 10 ** (-7 + i / 10));
  const losses = rates.map((r) => {
    const x = Math.log10(r);
    return 0.7 - 0.5 / (1 + Math.exp(-3 * (x + 3))) + 0.02 * Math.exp(2 * (x + 1));
  });
  return { rates, losses, marks: [{ label: 'valley 1.0e-3', rate: rates[40], loss: losses[40] }] };
}

const points = (svg: string) =>
  (svg.match(/<polyline class="loss" points="([^"]+)"/)?.[1] ?? '').split(' ').map((p) => p.split(',').map(Number));

test('the loss against the rate on a log axis: equal factors of rate are equal distances', () => {
  const c = curve();
  const svg = lrFindSvg(c);
  const pts = points(svg);
  assert.equal(pts.length, 81);
  const dx = pts.slice(1).map((p, i) => p[0] - pts[i][0]);
  for (const d of dx) assert.ok(Math.abs(d - dx[0]) < 0.02, `uneven step ${d} vs ${dx[0]}`);
  // Lower loss is drawn lower down (larger y): the bottom of the curve is below its start.
  const lowest = c.losses.indexOf(Math.min(...c.losses));
  assert.ok(pts[lowest][1] > pts[0][1]);
  // A tick label at each decade from 1e-7 to 10, text drawn as strokes (no <text>, no fonts).
  for (const label of ['1e-7', '1e-4', '1', '10', 'Learning rate (log scale)', 'Loss (smoothed)'])
    assert.ok(svg.includes(`<title>${label}</title>`), label);
  assert.doesNotMatch(svg, /<text/);
});

test('each suggestion is a dot on the curve, named in the legend', () => {
  const c = curve();
  const svg = lrFindSvg(c);
  const dot = svg.match(/<circle class="suggestion" data-label="valley 1.0e-3" cx="([\d.]+)" cy="([\d.]+)"/);
  assert.ok(dot);
  const at = points(svg)[40];
  assert.deepEqual([Number(dot[1]), Number(dot[2])], at);
  assert.ok(svg.includes('<title>valley 1.0e-3</title>'));
  assert.equal(lrFindSvg({ ...c, marks: [] }).includes('class="legend"'), false);
});

test('a loss that blew up (no stop at 4x) is drawn at the top edge, not squeezing the rest', () => {
  const c = curve();
  const blown = { ...c, losses: [...c.losses.slice(0, 75), 50, 500, 5e3, 5e4, 5e5, 5e6] };
  const pts = points(lrFindSvg(blown));
  const top = Math.min(...pts.map((p) => p[1]));
  const bottom = Math.max(...pts.map((p) => p[1]));
  // The fall keeps most of the plot's height (360 px): from ~0.7 down to ~0.2.
  const start = pts[0][1];
  assert.ok(bottom - start > 0.4 * (bottom - top), `start ${start}, top ${top}, bottom ${bottom}`);
  assert.ok(
    pts.slice(76).every((p) => p[1] === top),
    'the blown-up points sit on the top edge',
  );
});

test('writeLrFindPlot writes a PNG and an SVG that decode, into a folder it creates', async () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-lrplot-')), 'new', 'plots');
  const files = await writeLrFindPlot(curve(), dir);
  assert.deepEqual(files, { png: path.join(dir, 'lr-find.png'), svg: path.join(dir, 'lr-find.svg') });
  const png = await sharp(files.png).metadata();
  assert.equal(png.format, 'png');
  assert.deepEqual([png.width, png.height], [960, 720]);
  const svg = await sharp(files.svg).metadata();
  assert.equal(svg.format, 'svg');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['lr-find.png', 'lr-find.svg'], 'no temporary file is left');
});
