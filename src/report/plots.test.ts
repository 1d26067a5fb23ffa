import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { accuracyChart, curveChartSvg, lossChart, niceTicks, writeHistoryPlots } from './plots.js';
import { textPath, textWidth } from './strokeFont.js';
import type { HistoryData } from '../run/history.js';

const history: HistoryData = {
  epoch: [0, 1, 2, 3, 4],
  history: { accuracy: [0.8, 0.9, 0.95, 0.97, 0.98], val_accuracy: [0.9, 0.93, 0.94, 0.945, 0.94], loss: [0.5, 0.3, 0.2, 0.1, 0.05], val_loss: [0.3, 0.25, 0.22, 0.24, 0.3] },
  fineTuneStartEpoch: 3,
};

test('the book figures: titles, dots for training, a line for validation, legend, marker', () => {
  const svg = curveChartSvg(accuracyChart(history));
  assert.match(svg, /<title>Training and validation accuracy<\/title>/);
  assert.equal(svg.match(/<circle class="training"/g)?.length, 5);
  const line = svg.match(/<polyline class="validation" points="([^"]+)"/);
  assert.ok(line);
  assert.equal(line[1].split(' ').length, 5);
  for (const label of ['Training accuracy', 'Validation accuracy', 'Epochs', 'Accuracy', 'Fine-tuning starts']) assert.ok(svg.includes(`<title>${label}</title>`), label);
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
  const { data, info } = await sharp(files.accuracyPng).extract({ left: 0, top: 0, width: 960, height: 60 }).greyscale().raw().toBuffer({ resolveWithObject: true });
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
