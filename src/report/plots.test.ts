import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { accuracyChart, curveChartSvg, hasMap, lossChart, mapChart, niceTicks, readableLimit, writeHistoryPlots } from './plots.js';
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

test('a loss spike does not flatten the loss curve: values beyond the far-out fence are clipped to the top edge, marked', () => {
  assert.equal(readableLimit([0.5, 0.3, 0.2]), undefined, 'too few values to call one an outlier');
  assert.equal(readableLimit([0.9, 0.5, 0.4, 0.35, 0.3, 0.28]), undefined, 'an ordinary first epoch stays inside');
  assert.equal(readableLimit([0.5, 0.3, 40, 0.1, 0.05, 0.4, 0.3, 0.25, 0.2, 0.2]), 0.5);
  const spike: HistoryData = { epoch: [0, 1, 2, 3, 4], history: { loss: [0.5, 0.3, 40, 0.1, 0.05], val_loss: [0.4, 0.3, 0.25, 0.2, 0.2] } };
  const svg = curveChartSvg(lossChart(spike));
  assert.ok(svg.includes('<title>Loss</title>'), 'a linear axis, as the book draws it');
  assert.equal(svg.match(/<g class="clipped training">/g)?.length, 1);
  assert.ok(svg.includes('<title>40.0</title>'), 'the clipped value is printed');
  assert.ok(svg.includes('<title>1 value above 0.500 drawn at the top edge</title>'));
  const ys = [...svg.matchAll(/<circle class="training" cx="[\d.]+" cy="([\d.]+)"/g)].map((m) => Number(m[1]));
  assert.equal(ys.length, 4, 'the other four training points are drawn as dots');
  // On an axis up to 40, 0.5 and 0.05 would sit 10 px apart; clipped, they span most of the plot.
  assert.ok(ys[3] - ys[0] > 250, `0.5 vs 0.05: ${ys[3] - ys[0]} px apart`);
  const linear = curveChartSvg(lossChart(history));
  assert.doesNotMatch(linear, /class="clipped/);
});

/** Every stroke-font text of an SVG: its title and the bounding box of its path. */
function texts(svg: string): Array<{ text: string; x0: number; x1: number; y0: number; y1: number }> {
  return [...svg.matchAll(/<path d="([^"]+)"[^>]*><title>([^<]*)<\/title><\/path>/g)].map((m) => {
    const pts = pathPoints(m[1]);
    const xs = pts.map(([x]) => x);
    const ys = pts.map(([, y]) => y);
    return { text: m[2], x0: Math.min(...xs), x1: Math.max(...xs), y0: Math.min(...ys), y1: Math.max(...ys) };
  });
}

test('a run whose loss spans 1e-29 to 1e3: readable tick labels inside the image, the outliers marked, loss.png rendered', async () => {
  // The new user's run: the first epoch at 247.5, a jump to 43, training loss down to 2.2e-29 at times.
  const loss = [247.5, 1.9, 43, 0.41, 2.2e-29, 0.8, 3.1e-12, 0.05, 1e3, 0.2, 1e-29, 0.3];
  const val = [0.9, 0.35, 4.8, 0.3, 0.42, 0.31, 0.6, 0.33, 0.5, 0.29, 0.38, 0.3];
  const h: HistoryData = { epoch: loss.map((_, i) => i), history: { loss, val_loss: val } };
  const svg = curveChartSvg(lossChart(h));
  const ticks = texts(svg.match(/<g class="y-ticks">(.*?)<\/g>/s)?.[1] ?? '');
  assert.ok(ticks.length >= 4, `${ticks.length} y ticks`);
  for (const t of ticks) {
    assert.match(t.text, /^-?\d+(\.\d+)?$/, `tick label '${t.text}' is a plain number`);
    assert.ok(t.text.length <= 5, `tick label '${t.text}' is short`);
    assert.ok(t.x0 >= 0 && t.x1 <= 640 && t.y0 >= 0 && t.y1 <= 480, `tick label '${t.text}' inside the image: ${JSON.stringify(t)}`);
  }
  // Every text of the chart is inside the image too (title, note, clipped values, legend).
  for (const t of texts(svg)) assert.ok(t.x0 >= 0 && t.x1 <= 640 && t.y0 >= 0 && t.y1 <= 480, `'${t.text}' inside: ${JSON.stringify(t)}`);
  // The readable range is the ordinary values': the axis tops out near the largest of them, not at 1000.
  const top = Math.max(...ticks.map((t) => Number(t.text)));
  assert.ok(top <= 2.5, `axis top ${top}`);
  assert.equal(svg.match(/<g class="clipped training">/g)?.length, 3, '247.5, 43 and 1000');
  assert.equal(svg.match(/<g class="clipped validation">/g)?.length, 1, '4.8');
  for (const v of ['248', '43.0', '1000', '4.80']) assert.ok(svg.includes(`<title>${v}</title>`), `clipped value ${v} printed`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const files = await writeHistoryPlots(h, dir);
  assert.equal((await sharp(files.lossPng).metadata()).width, 960);
});

test('tick labels of tiny and huge ranges stay short numbers', () => {
  for (const scale of [1e-7, 1e-3, 1, 1e4, 1e7]) {
    const v = [5, 4, 3.2, 3, 2.9, 2.5].map((x) => x * scale);
    const ticks = texts(
      curveChartSvg(lossChart({ epoch: v.map((_, i) => i), history: { loss: v, val_loss: v } })).match(
        /<g class="y-ticks">(.*?)<\/g>/s,
      )?.[1] ?? '',
    );
    const labels = ticks.map((t) => t.text);
    assert.equal(new Set(labels).size, labels.length, `distinct labels at ${scale}: ${labels}`);
    for (const t of ticks) {
      assert.match(t.text, /^-?\d+(\.\d+)?(e-?\d+)?$/, `'${t.text}' at ${scale}`);
      assert.ok(t.text.length <= 7 && t.x0 >= 0, `'${t.text}' at ${scale}: ${JSON.stringify(t)}`);
    }
  }
});

test("a multi-label history's mAP: its own chart and map.svg/.png, and the accuracy named binary accuracy", async () => {
  const multi: HistoryData = {
    epoch: [0, 1, 2],
    history: {
      loss: [0.5, 0.4, 0.3],
      val_loss: [0.6, 0.5, 0.45],
      accuracy: [0.8, 0.85, 0.9],
      val_accuracy: [0.8, 0.8, 0.85],
      map: [0.5, 0.7, 0.8],
      val_map: [0.55, 0.72, 0.78],
    },
  };
  assert.ok(hasMap(multi));
  assert.ok(!hasMap(history));
  const svg = curveChartSvg(mapChart(multi));
  assert.match(svg, /<title>Training and validation mAP<\/title>/);
  for (const label of ['Training mAP', 'Validation mAP', 'Mean average precision'])
    assert.ok(svg.includes(`<title>${label}</title>`), label);
  assert.equal(svg.match(/<circle class="training"/g)?.length, 3);
  assert.match(curveChartSvg(accuracyChart(multi)), /<title>Training and validation binary accuracy<\/title>/);
  assert.match(curveChartSvg(accuracyChart(history)), /<title>Training and validation accuracy<\/title>/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const files = await writeHistoryPlots(multi, dir);
  assert.ok(files.mapPng && files.mapSvg);
  assert.equal((await sharp(files.mapPng).metadata()).width, 960);
  assert.match(fs.readFileSync(files.mapSvg, 'utf8'), /Training and validation mAP/);
  // A single-label history writes no mAP files.
  const plain = await writeHistoryPlots(history, fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-')));
  assert.deepEqual(Object.keys(plain).sort(), ['accuracyPng', 'accuracySvg', 'lossPng', 'lossSvg']);
});
