// Multi-label through the command line, on a small set of the mosaics (two shared
// photos side by side, labelled with the animals present, 'bw' on the grayscale ones):
// train from the table, evaluate (the per-label figures, --json's multiLabel), predict (the
// labels at or above each threshold, every probability), export to ONNX (the multi-label
// metadata; onnxruntime-node on the file gives predict's probabilities to 1e-4), and the
// Teachable Machine export exits 2.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeImageInto } from '../../data/decode.js';
import { OrtModel } from '../../ort/ortRunner.js';
import { meanAveragePrecision } from '../../run/multiLabelMetrics.js';
import { tempDir } from '../../testing/images.js';
import { SHARED_MOBILENET } from '../../testing/linkedPhotos.js';
import { MOSAIC_CLASSES, MOSAIC_DELIM, makeMosaics, type MosaicSet } from '../../testing/mosaics.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });
const CLASSES = [...MOSAIC_CLASSES];

let root = '';
let set: MosaicSet;
let run = '';
let thresholds: number[] = [];
/** What `predict --json` gave each test mosaic. */
let predicted: Array<{ file: string; labels: string[]; probabilities: Record<string, number> }> = [];

before(async () => {
  root = tempDir();
  set = await makeMosaics({ out: path.join(root, 'mosaics'), count: { train: 48, validation: 24, test: 18 }, size: 96, seed: 4 });
  run = path.join(root, 'run');
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

test('train --labels with several labels a row makes a multi-label run: sigmoids, thresholds chosen on validation, mAP in the history', () => {
  const r = cli(
    'train',
    '--data',
    set.dir,
    '--labels',
    set.labels,
    '--label-delim',
    MOSAIC_DELIM,
    '--base',
    SHARED_MOBILENET,
    '--out',
    run,
    '--cache-dir',
    path.join(root, 'cache'),
    '--epochs',
    '6',
    '--image-size',
    '128',
    '--quiet',
  );
  assert.equal(r.status, 0, r.stderr);
  const meta = JSON.parse(fs.readFileSync(path.join(run, 'meta.json'), 'utf8'));
  assert.equal(meta.labelMode, 'multi-label');
  assert.deepEqual(meta.classes, CLASSES);
  assert.equal(meta.thresholdSource, 'validation-f1');
  assert.equal(meta.thresholds.length, 3);
  assert.ok(
    meta.thresholds.every((t: number) => t >= 0 && t <= 1),
    `thresholds ${meta.thresholds}`,
  );
  thresholds = meta.thresholds;
  const history = JSON.parse(fs.readFileSync(path.join(run, 'history.json'), 'utf8'));
  const h = history.history ?? history;
  assert.equal(h.map?.length, 6, `history has map per epoch: ${Object.keys(h)}`);
  assert.equal(h.val_map?.length, 6);
  assert.ok(h.val_map.every((m: number) => m >= 0 && m <= 1));
});

test('evaluate --labels on the test mosaics: per-label figures and mAP, the same as the saved scores give', () => {
  assert.ok(thresholds.length, 'the training test ran');
  const args = ['evaluate', '--model', run, '--data', set.dir, '--labels', set.test, '--label-delim', MOSAIC_DELIM];
  const r = cli(...args, '--json');
  assert.equal(r.status, 0, r.stderr);
  const e = JSON.parse(r.stdout);
  assert.equal(e.n, 18);
  assert.deepEqual(e.classes, CLASSES);
  const ml = e.multiLabel;
  assert.ok(ml, `--json has multiLabel: ${Object.keys(e)}`);
  assert.deepEqual(
    ml.perClass.map((c: { name: string }) => c.name),
    CLASSES,
  );
  assert.deepEqual(ml.thresholds, thresholds);
  assert.equal(e.accuracy, ml.exactMatch);
  // The support is the test table's own count of each label.
  const tests = set.mosaics.filter((m) => m.split === 'test');
  assert.deepEqual(
    ml.perClass.map((c: { support: number }) => c.support),
    CLASSES.map((c) => tests.filter((m) => m.labels.includes(c)).length),
  );
  // A real classifier, even on this little data: grayscale is easy, the animals well above chance.
  assert.ok(ml.meanAveragePrecision > 0.8, `mAP ${ml.meanAveragePrecision}`);
  // evaluation.json's scores give the printed mAP.
  const saved = JSON.parse(fs.readFileSync(path.join(run, 'evaluation.json'), 'utf8'));
  const probs = saved.files.flatMap((f: { scores: number[] }) => f.scores);
  const truth = saved.files.flatMap((f: { labels: string[] }) => CLASSES.map((c) => (f.labels.includes(c) ? 1 : 0)));
  assert.ok(Math.abs(meanAveragePrecision(probs, truth, 3) - ml.meanAveragePrecision) < 1e-9);
  for (const f of saved.files) {
    const m = tests.find((t) => path.join(set.dir, t.file) === path.resolve(set.dir, f.file))!;
    assert.deepEqual(f.labels, m.labels, f.file);
    assert.deepEqual(
      f.predicted,
      CLASSES.filter((_, j) => f.scores[j] >= thresholds[j]),
      f.file,
    );
  }
  // The text output: a row a label, and the mean average precision.
  const text = cli(...args);
  assert.equal(text.status, 0, text.stderr);
  for (const c of CLASSES) assert.match(text.stdout, new RegExp(`^\\s*${c}\\b`, 'm'));
  assert.match(text.stdout, /mAP|mean average precision/i);
});

test('predict: the labels at or above their thresholds and every probability, in ndjson and csv', () => {
  assert.ok(thresholds.length, 'the training test ran');
  const files = set.mosaics.filter((m) => m.split === 'test').map((m) => path.join(set.dir, m.file));
  const r = cli('predict', '--model', run, ...files, '--json');
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { file: string; labels: string[]; probabilities: Record<string, number> });
  assert.equal(rows.length, files.length);
  predicted = rows;
  for (const row of rows) {
    assert.deepEqual(Object.keys(row.probabilities).sort(), CLASSES);
    const expected = CLASSES.filter((c, j) => row.probabilities[c] >= thresholds[j]);
    assert.deepEqual([...row.labels].sort(), expected, row.file);
  }
  // Not just the most probable class: some image gets two labels or more.
  assert.ok(
    rows.some((row) => row.labels.length >= 2),
    JSON.stringify(rows.map((row) => row.labels)),
  );
  const csv = cli('predict', '--model', run, ...files.slice(0, 4), '--format', 'csv');
  assert.equal(csv.status, 0, csv.stderr);
  const lines = csv.stdout.trim().split('\n');
  assert.equal(lines.length, 5, csv.stdout);
  for (const c of CLASSES) assert.match(lines[0], new RegExp(c));
  // Each row names its labels (';' between them by default) and has a probability a class.
  rows.slice(0, 4).forEach((row, i) => {
    const line = lines[i + 1];
    assert.match(line, new RegExp(path.basename(row.file).replace('.', '\\.')));
    for (const l of row.labels) assert.match(line, new RegExp(l));
  });
});

test("export --format onnx carries the multi-label metadata and gives predict's probabilities; --format tm exits 2 saying why", async () => {
  assert.ok(thresholds.length, 'the training test ran');
  const out = path.join(root, 'onnx');
  const r = cli('export', run, '--format', 'onnx', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(fs.readdirSync(out).some((f) => f.endsWith('.onnx')));
  const meta = JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8'));
  assert.equal(meta.labelMode, 'multi-label');
  assert.deepEqual(meta.thresholds, thresholds);
  assert.deepEqual(meta.labels ?? meta.classes, CLASSES);
  // The exported file on onnxruntime-node gives predict's probabilities, so the same labels.
  assert.equal(predicted.length, 18, 'the predict test ran');
  const size: [number, number] = [128, 128];
  const per = size[0] * size[1] * 3;
  const pixels = new Float32Array(predicted.length * per);
  for (const [i, p] of predicted.entries()) await decodeImageInto(p.file, size, pixels, i * per);
  const model = await OrtModel.create(new Uint8Array(fs.readFileSync(path.join(out, 'model.onnx'))));
  try {
    const { data, shape } = await model.run(pixels, [predicted.length, ...size, 3]);
    assert.deepEqual(shape, [predicted.length, 3]);
    let d = 0;
    for (const [i, p] of predicted.entries()) {
      CLASSES.forEach((c, j) => (d = Math.max(d, Math.abs(data[i * 3 + j] - p.probabilities[c]))));
      assert.deepEqual(
        CLASSES.filter((_, j) => data[i * 3 + j] >= thresholds[j]),
        [...p.labels].sort(),
        p.file,
      );
    }
    assert.ok(d <= 1e-4, `onnx export vs predict: ${d}`);
  } finally {
    await model.dispose();
  }

  const tm = path.join(root, 'tm');
  const t = cli('export', run, '--format', 'tm', '--out', tm);
  assert.equal(t.status, 2, t.stderr);
  assert.match(t.stderr, /Teachable Machine's format has no multi-label form.*export --format onnx\|tfjs\|keras instead/);
  assert.doesNotMatch(t.stderr, /\n +at /, 'no stack trace');
  assert.ok(!fs.existsSync(tm) || fs.readdirSync(tm).length === 0, 'nothing written');
});
