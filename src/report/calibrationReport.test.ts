import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FileResult } from '../run/evaluation.js';
import { META_VERSION, type RunMeta } from '../run/meta.js';
import { expectedCalibrationError, rescaleScores } from '../run/temperature.js';
import { renderReport, type ReportInput } from './htmlReport.js';

const T = 3.5;

function meta(extra: Partial<RunMeta> = {}): RunMeta {
  return {
    version: META_VERSION,
    tool: 'tlkit',
    classes: ['cats', 'dogs'],
    labelMode: 'binary',
    preprocessing: 'tf',
    imageSize: [224, 224],
    base: 'mobilenet',
    baseFamily: 'mobilenet',
    baseSource: 'MobileNet',
    mode: 'features',
    head: { units: 256, activation: 'linear', dropout: 0.5, pooling: 'flatten' },
    bestEpoch: 3,
    bestValLoss: 0.4,
    epochsDone: 20,
    finished: true,
    options: {},
    timings: { extractSeconds: 8.6, extractImages: 3000, extractImagesPerSecond: 52.2, trainSeconds: 30, calibrationSeconds: 0.4 },
    createdAt: '',
    updatedAt: '',
    calibration: {
      method: 'temperature',
      temperature: T,
      layer: 'head_output',
      sha256: 'x',
      epoch: 3,
      validation: { n: 1000, nllBefore: 0.9, nllAfter: 0.2, eceBefore: 0.08, eceAfter: 0.01 },
    },
    ...extra,
  };
}

/** 300 test images: P(dogs) spread over (0, 1), right about as often as a calibrated model would be. */
function files(): FileResult[] {
  return Array.from({ length: 300 }, (_, i) => {
    const p = (i + 0.5) / 300;
    const label = (i * 7919) % 300 < p * 300 ? 1 : 0;
    return { file: `/nowhere/${i}.jpg`, label, scores: [1 - p, p] };
  });
}

function input(m: RunMeta, withTemperature = true): ReportInput {
  const f = files();
  const scores = f.map((x) => x.scores);
  const labels = f.map((x) => x.label);
  return {
    runDir: '/tmp/run',
    meta: m,
    history: null,
    model: undefined,
    evaluation: {
      accuracy: 0.8,
      loss: 0.4,
      n: f.length,
      classes: m.classes,
      confusion: [
        [120, 30],
        [30, 120],
      ],
      precision: [0.8, 0.8],
      recall: [0.8, 0.8],
      f1: [0.8, 0.8],
      support: [150, 150],
      ece: expectedCalibrationError(scores, labels),
      dir: '/data/test',
      files: f,
      seconds: 1,
      imagesPerSecond: 300,
      ...(withTemperature ? { temperature: T, eceUncalibrated: expectedCalibrationError(rescaleScores(scores, T), labels) } : {}),
    },
    topWrong: 0,
    topLossesPerClass: 0,
  };
}

const row = (html: string, name: string) => html.match(new RegExp(`<tr><th>${name}</th><td>([^<]*)</td></tr>`))?.[1];

test('the report: the calibration in the configuration, the ECE with and without T, a reliability diagram of both', async () => {
  const html = await renderReport(input(meta()));
  assert.match(
    row(html, 'Calibration') ?? '',
    /^temperature scaling: T = 3\.500, folded into head_output \(fitted on 1000 validation images/,
  );
  assert.match(row(html, 'ECE \\(15 bins\\)') ?? '', /^0\.\d{4} \(without the temperature T = 3\.500: 0\.\d{4}\)$/);
  const svg = html.match(/<figure id="reliability-chart">(<svg.*?<\/svg>)<\/figure>/s)?.[1] ?? '';
  assert.match(svg, /aria-label="Reliability diagram \(test images, 15 bins\)"/);
  assert.ok((svg.match(/<rect class="bin"/g)?.length ?? 0) >= 7, 'a bar per used bin (confidence 0.5 to 1)');
  assert.ok((svg.match(/<circle class="uncalibrated"/g)?.length ?? 0) >= 2, 'the model without T as a second series');
  assert.match(svg, /<title>Calibrated \(T = 3\.50\): ECE 0\.\d{4}<\/title>/);
  assert.match(svg, /class="diagonal"/);
  // Every stroke-font text inside the image (the rotated axis label aside: its path is drawn before the rotation).
  for (const m of svg.matchAll(/<path d="([^"]+)"[^>]*><title>([^<]*)<\/title>/g)) {
    if (m[0].includes('transform=')) continue;
    const nums = m[1].match(/-?[\d.]+/g)!.map(Number);
    for (let i = 0; i + 1 < nums.length; i += 2) {
      assert.ok(nums[i] >= 0 && nums[i] <= 640 && nums[i + 1] >= 0 && nums[i + 1] <= 480, `'${m[2]}' inside the image`);
    }
  }

  const plain = await renderReport(input(meta({ calibration: undefined, options: { calibration: 'none' } }), false));
  assert.equal(row(plain, 'Calibration'), 'none (calibration none: the raw model)');
  assert.match(row(plain, 'ECE \\(15 bins\\)') ?? '', /^0\.\d{4}$/);
  assert.doesNotMatch(plain, /class="uncalibrated"/);
  assert.match(plain, /id="reliability-chart"/);
});

test('the timings say whether the run extracted features or found them all in the cache', async () => {
  const extracted = await renderReport(input(meta()));
  assert.equal(row(extracted, 'Feature extraction'), '8.6 s (3000 images extracted, 52.2 images/s on ONNX Runtime)');
  assert.equal(row(extracted, 'Temperature fit'), '0.4 s');
  const hit = await renderReport(input(meta({ timings: { extractSeconds: 0.3, extractImages: 0, trainSeconds: 30 } })));
  assert.equal(row(hit, 'Feature extraction'), '0.3 s (cache hit: every split from the feature cache)');
  // A run recorded before the image count: a rate is recorded only when it extracted.
  const older = await renderReport(input(meta({ timings: { extractSeconds: 60, extractImagesPerSecond: 50 } })));
  assert.equal(row(older, 'Feature extraction'), '60.0 s (extracted, 50.0 images/s on ONNX Runtime)');
  const tuned = await renderReport(
    input(meta({ timings: { prefixFeaturesSeconds: 4, prefixFeaturesImages: 120, prefixFeaturesImagesPerSecond: 30 } })),
  );
  assert.equal(row(tuned, 'Frozen prefix features \\(fine-tuning\\)'), '4.0 s (120 images extracted, 30.0 images/s on ONNX Runtime)');
});
