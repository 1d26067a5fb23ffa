import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { accuracyChart, chooseScale, curveChartSvg, lossChart, niceTicks, writeHistoryPlots } from './plots.js';
import { textPath, textWidth } from './strokeFont.js';
import type { HistoryData } from '../run/history.js';

const history: HistoryData = {
  epoch: [0, 1, 2, 3, 4],
  history: {
    accuracy: [0.8, 0.9, 0.95, 0.97, 0.98],
    val_accuracy: [0.9, 0.93, 0.94, 0.945, 0.94],
    loss: [0.5, 0.3, 0.2, 0.1, 0.05],
    val_loss: [0.3, 0.25, 0.22, 0.24, 0.3],
  },
  fineTuneStartEpoch: 3,
};

test('the book figures: titles, dots for training, a line for validation, legend, marker', () => {
  const svg = curveChartSvg(accuracyChart(history));
  assert.match(svg, /<title>Training and validation accuracy<\/title>/);
  assert.equal(svg.match(/<circle class="training"/g)?.length, 5);
  const line = svg.match(/<polyline class="validation" points="([^"]+)"/);
  assert.ok(line);
  assert.equal(line[1].split(' ').length, 5);
  for (const label of ['Training accuracy', 'Validation accuracy', 'Epochs', 'Accuracy', 'Fine-tuning starts'])
    assert.ok(svg.includes(`<title>${label}</title>`), label);
  assert.match(svg, /class="marker"/);
  // Text is drawn as strokes: the SVG uses no <text> (so no fonts are needed anywhere).
  assert.doesNotMatch(svg, /<text/);
  const loss = curveChartSvg(lossChart({ ...history, fineTuneStartEpoch: undefined }));
  assert.match(loss, /Training and validation loss/);
  assert.doesNotMatch(loss, /class="marker"/);
  // Higher loss is drawn higher up (smaller y).
  const ys = [...loss.matchAll(/<circle class="training" cx="[\d.]+" cy="([\d.]+)"/g)].map((m) => Number(m[1]));
  assert.ok(ys[0] < ys[4]);
});

test('writeHistoryPlots writes SVG and PNG files that decode, with ink where the text is', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const files = await writeHistoryPlots(history, dir);
  for (const f of Object.values(files)) assert.ok(fs.statSync(f).size > 500, f);
  const meta = await sharp(files.accuracyPng).metadata();
  assert.equal(meta.width, 960);
  assert.equal(meta.height, 720);
  // The title band (top 60 px at 1.5x) holds dark pixels: the title is rendered.
  const { data, info } = await sharp(files.accuracyPng)
    .extract({ left: 0, top: 0, width: 960, height: 60 })
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const dark = data.filter((v) => v < 100).length;
  assert.ok(dark > 200 && dark < info.width * info.height * 0.5, `dark pixels in the title band: ${dark}`);
});

test('niceTicks and the stroke font', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0.83, 0.99, 6), [0.85, 0.9, 0.95]);
  assert.ok(textWidth('Training', 12) > textWidth('Train', 12));
  assert.ok(textWidth('ii', 12) < textWidth('mm', 12));
  assert.match(textPath('A1', 0, 10, 6), /^M[\d. ]+L/);
});

/** The x, y pairs of a stroke-font path's d attribute. */
function pathPoints(d: string): Array<[number, number]> {
  const nums = d.match(/-?[\d.]+/g)?.map(Number) ?? [];
  const pts: Array<[number, number]> = [];
  for (let i = 0; i + 1 < nums.length; i += 2) pts.push([nums[i], nums[i + 1]]);
  return pts;
}

test('the fine-tuning marker label is never clipped, even when fine-tuning starts at the last epoch', () => {
  for (const start of [0, 1, 3, 4]) {
    const svg = curveChartSvg(lossChart({ ...history, fineTuneStartEpoch: start }));
    const label = svg.match(/<g class="marker-label"><path d="([^"]+)"/);
    assert.ok(label, `marker label drawn (start ${start})`);
    for (const [x, y] of pathPoints(label[1])) {
      assert.ok(x >= 84 && x <= 640 - 24, `start ${start}: x ${x} inside the plot`);
      assert.ok(y >= 48 && y <= 480 - 60, `start ${start}: y ${y} inside the plot`);
    }
  }
});

test('a loss spike does not flatten the loss curve: more than two decades -> log scale', () => {
  assert.equal(chooseScale([0.5, 0.3, 0.2]), 'linear');
  assert.equal(chooseScale([0.5, 0.3, 40, 0.1]), 'log');
  assert.equal(chooseScale([0, 0.3, 40]), 'linear', 'a zero cannot go on a log scale');
  const spike: HistoryData = { epoch: [0, 1, 2, 3, 4], history: { loss: [0.5, 0.3, 40, 0.1, 0.05], val_loss: [0.4, 0.3, 0.25, 0.2, 0.2] } };
  const chart = lossChart(spike);
  assert.equal(chart.scale, 'log');
  const svg = curveChartSvg(chart);
  assert.ok(svg.includes('<title>Loss (log scale)</title>'));
  for (const tick of ['0.1', '1', '10']) assert.ok(svg.includes(`<title>${tick}</title>`), `tick ${tick}`);
  const ys = [...svg.matchAll(/<circle class="training" cx="[\d.]+" cy="([\d.]+)"/g)].map((m) => Number(m[1]));
  // On a linear axis up to 40, 0.5 and 0.05 would sit 3 px apart; on the log axis a decade is a third of the plot.
  assert.ok(ys[4] - ys[0] > 80, `0.5 vs 0.05: ${ys[4] - ys[0]} px apart`);
  assert.ok(ys[2] >= 48 && ys[4] <= 480 - 60, 'every point inside the plot');
  const linear = curveChartSvg(lossChart(history));
  assert.ok(linear.includes('<title>Loss</title>'));
});
