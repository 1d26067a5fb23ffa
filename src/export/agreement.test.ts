// A quantized export measures its agreement with the unquantized model on the run's
// validation images, prints it and stores it in metadata.json; a run whose weights one affine
// range per tensor cannot hold shows that uint8 on every tensor changes labels, and that
// --quantize uint8 (small or poorly held tensors at 16 bits) does not; the warning names a safer option.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { makeTinyRun } from '../testing/tinyRun.js';
import { decodeImageInto } from '../data/decode.js';
import { listImageFiles } from '../data/splits.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { measureAgreement, SKIPPED_AGREEMENT, type MeasuredAgreement } from './agreement.js';
import { exportRun } from './exportRun.js';
import { encodingOf, quantizeWeights, UINT8_MIN_VALUES, uint8RelativeError } from './quantize.js';
import { describeAgreement } from '../cli/commands/export.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });

let run = '';
let data = '';
let root = '';
let hard = '';
let harder = '';

function readWeights(dir: string): { json: tf.io.ModelJSON; specs: tf.io.WeightsManifestEntry[]; tensors: Map<string, Float32Array> } {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const bytes = fs.readFileSync(path.join(dir, json.weightsManifest[0].paths[0]));
  const tensors = new Map<string, Float32Array>();
  let offset = bytes.byteOffset;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    tensors.set(s.name, new Float32Array(bytes.buffer.slice(offset, offset + 4 * n)));
    offset += 4 * n;
  }
  return { json, specs, tensors };
}

/**
 * The tiny run with the same predictions but weights one range per tensor holds badly: conv1's
 * channel 0 scaled by k and the head's rows that read it by 1/k (ReLU and max pooling let the
 * factor through), as trained layers often differ from channel to channel; and the head's
 * output bias moved so that half the validation images sit near the decision boundary.
 */
async function hardToQuantize(src: string, dst: string, k: number): Promise<void> {
  fs.cpSync(src, dst, { recursive: true });
  const dir = path.join(dst, 'model');
  const { json, specs, tensors } = readWeights(dir);
  const kernel = tensors.get('conv1/kernel') as Float32Array;
  const channels = 4;
  for (let i = 0; i < kernel.length; i += channels) kernel[i] *= k;
  (tensors.get('conv1/bias') as Float32Array)[0] *= k;
  const dense = tensors.get('head_dense/kernel') as Float32Array;
  const units = specs.find((s) => s.name === 'head_dense/kernel')?.shape[1] as number;
  for (let row = 0; row < dense.length / units; row += channels) for (let u = 0; u < units; u++) dense[row * units + u] /= k;
  const write = () =>
    fs.writeFileSync(
      path.join(dir, 'weights.bin'),
      Buffer.concat(specs.map((s) => Buffer.from((tensors.get(s.name) as Float32Array).buffer))),
    );
  write();
  // the logits of the validation images, centred on 0
  const model = await tfl.loadLayersModel(fileSystemIO(dir));
  const logits = tfl.model({ inputs: model.inputs, outputs: model.getLayer('head_output').output as tfl.SymbolicTensor });
  const files = ['cats', 'dogs'].flatMap((c) => listImageFiles(path.join(data, 'validation', c)));
  const size = (model.inputs[0].shape as number[]).slice(1, 3) as [number, number];
  const pixels = new Float32Array(files.length * size[0] * size[1] * 3);
  for (let i = 0; i < files.length; i++) await decodeImageInto(files[i], size, pixels, i * size[0] * size[1] * 3);
  const y = logits.predict(tf.tensor4d(pixels, [files.length, size[0], size[1], 3])) as tf.Tensor;
  const sorted = Array.from(y.dataSync()).sort((a, b) => a - b);
  (tensors.get('head_output/bias') as Float32Array)[0] -= (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  y.dispose();
  model.dispose();
  write();
  assert.ok(json.weightsManifest.length === 1);
}

before(async () => {
  ({ run, data } = await makeTinyRun(4));
  root = path.dirname(run);
  hard = path.join(root, 'hard-run');
  await hardToQuantize(run, hard, 1000);
  harder = path.join(root, 'harder-run');
  await hardToQuantize(run, harder, 1e6);
});

test('export --quantize uint8: the agreement with float32 on the validation split is measured, printed and stored', () => {
  const out = path.join(root, 'agree-uint8');
  const r = cli('export', run, '--format', 'tfjs', '--quantize', 'uint8', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const validation = path.join(data, 'validation');
  assert.match(
    r.stdout,
    new RegExp(
      `agreement with the unquantized model on 16 validation images \\(${validation}\\): same label on 16/16 \\(100\\.00%\\), largest probability difference \\d\\.\\d{4}`,
    ),
  );
  assert.doesNotMatch(r.stderr, /warning/);
  const meta = JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8'));
  assert.equal(meta.quantization, 'uint8');
  assert.equal(meta.agreement.measured, true);
  assert.equal(meta.agreement.split, 'validation');
  assert.equal(meta.agreement.dir, validation);
  assert.equal(meta.agreement.images, 16);
  assert.equal(meta.agreement.labelAgreement, 1);
  assert.ok(meta.agreement.maxProbabilityDifference < 0.01, String(meta.agreement.maxProbabilityDifference));
  // the tiny model's tensors are all small: every one at 16 bits (float16; uint16 for Teachable Machine)
  assert.deepEqual(Object.keys(meta.weightEncodings), ['float16']);
  // not quantized: nothing to measure
  const plain = cli('export', run, '--format', 'tfjs', '--out', path.join(root, 'agree-none'));
  assert.equal(plain.status, 0, plain.stderr);
  assert.doesNotMatch(plain.stdout, /agreement/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(root, 'agree-none', 'metadata.json'), 'utf8')).agreement, null);
});

test('weights one range per tensor holds badly: uint8 on every tensor changes labels, --quantize uint8 does not', async () => {
  const out = path.join(root, 'hard-uint8');
  const r = cli('export', hard, '--format', 'tfjs', '--quantize', 'uint8', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const ours = JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8')).agreement as MeasuredAgreement;
  // what --quantize uint8 wrote before: tfjs-converter's uint8 on every tensor
  const io = fileSystemIO(path.join(hard, 'model')) as Required<Pick<tf.io.IOHandler, 'load'>>;
  const reference = await io.load();
  const weights = reference.weightData as ArrayBuffer;
  const every = quantizeWeights(reference.weightSpecs ?? [], weights, 'uint8');
  const files = ['cats', 'dogs'].flatMap((c) => listImageFiles(path.join(data, 'validation', c)));
  const input = {
    files,
    split: 'validation' as const,
    dir: path.join(data, 'validation'),
    labels: ['cats', 'dogs'],
    imageSize: [16, 16] as [number, number],
    scale: 1,
    offset: 0,
  };
  const before = await measureAgreement(reference, { ...reference, weightSpecs: every.specs, weightData: every.data }, input);
  process.stderr.write(
    `hard run: uint8 on every tensor ${before.sameLabel}/${before.images} (max ${before.maxProbabilityDifference.toFixed(3)}); --quantize uint8 ${ours.sameLabel}/${ours.images} (max ${ours.maxProbabilityDifference.toFixed(4)})\n`,
  );
  assert.equal(ours.labelAgreement, 1, JSON.stringify(ours));
  assert.ok(ours.maxProbabilityDifference < 0.05, String(ours.maxProbabilityDifference));
  assert.ok(before.labelAgreement < 0.99, `uint8 on every tensor: ${before.sameLabel}/${before.images}`);
  assert.ok(before.disagreements.length > 0 && before.disagreements[0].reference.label !== before.disagreements[0].quantized.label);
});

test('below 99% label agreement the export warns, names a safer option and stores the images that changed', () => {
  const out = path.join(root, 'harder-uint16');
  const r = cli('export', harder, '--format', 'tfjs', '--quantize', 'uint16', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const a = JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8')).agreement as MeasuredAgreement;
  assert.ok(a.measured && a.labelAgreement < 0.99, JSON.stringify(a));
  assert.match(r.stdout, new RegExp(`same label on ${a.sameLabel}/16 \\(${(a.labelAgreement * 100).toFixed(2)}%\\)`));
  assert.match(r.stderr, new RegExp(`warning: the uint16 weights change the predicted label of ${16 - a.sameLabel} of 16 images`));
  assert.match(r.stderr, /Use --quantize float16 \(2x smaller than float32\) for predictions that match tlkit predict/);
  assert.equal(a.disagreements.length, Math.min(5, 16 - a.sameLabel));
  const d = a.disagreements[0];
  assert.ok(fs.existsSync(d.file) && d.reference.label !== d.quantized.label);
});

test('validation data out of reach: the export says so and stores agreement.measured false; --data measures it', () => {
  const moved = path.join(root, 'moved-run');
  fs.cpSync(run, moved, { recursive: true });
  const metaFile = path.join(moved, 'meta.json');
  const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
  meta.data = path.join(root, 'data-that-moved');
  fs.writeFileSync(metaFile, JSON.stringify(meta));
  const out = path.join(root, 'moved-uint8');
  const r = cli('export', moved, '--format', 'tfjs', '--quantize', 'uint8', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /agreement with the unquantized model: not measured: the data folder the run was trained on, .*data-that-moved, does not exist \(moved or deleted\)\. Pass --data DIR/,
  );
  assert.match(r.stderr, /warning: the uint8 export's predictions were not checked against the unquantized model/);
  const stored = JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8')).agreement;
  assert.equal(stored.measured, false);
  assert.match(stored.reason, /data-that-moved, does not exist/);
  const page = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
  assert.match(page, /"measured":false/);
  const again = cli('export', moved, '--format', 'tfjs', '--quantize', 'uint8', '--data', data, '--out', out);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /same label on 16\/16 \(100\.00%\)/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8')).agreement.measured, true);
  // an image that cannot be decoded is left out and named
  const copy = path.join(root, 'data-with-bad-image');
  fs.cpSync(data, copy, { recursive: true });
  const bad = path.join(copy, 'validation', 'cats', 'broken.jpg');
  fs.writeFileSync(bad, 'not a JPEG');
  const skipping = cli('export', moved, '--format', 'tfjs', '--quantize', 'uint8', '--data', copy, '--out', out);
  assert.equal(skipping.status, 0, skipping.stderr);
  const withBad = JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8')).agreement;
  assert.equal(withBad.images, 16);
  assert.deepEqual(withBad.skipped, [bad]);
  assert.match(skipping.stdout, /1 image that could not be decoded left out/);
  // --data without --quantize, or a folder that is not there: refused before any work
  const plain = cli('export', moved, '--format', 'tfjs', '--data', data, '--out', path.join(root, 'plain-data'));
  assert.equal(plain.status, 2);
  assert.match(plain.stderr, /--data names the images a quantized export is checked on; without --quantize/);
  const missing = cli(
    'export',
    moved,
    '--format',
    'tfjs',
    '--quantize',
    'uint8',
    '--data',
    path.join(root, 'nowhere'),
    '--out',
    path.join(root, 'nd'),
  );
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--data .*nowhere does not exist/);
  assert.equal(fs.existsSync(path.join(root, 'nd')), false);
});

test('--skip-agreement (skipAgreement): no check runs, and the output, metadata.json and the page say it was not measured', async () => {
  // the library: no validation image is read (no progress), metadata records the skip
  let progressed = 0;
  const lib = await exportRun(run, {
    format: 'tfjs',
    quantize: 'uint8',
    out: path.join(root, 'skip-lib'),
    skipAgreement: true,
    onProgress: () => progressed++,
  });
  assert.equal(progressed, 0, 'no image was run');
  assert.deepEqual(lib.agreement, { ...SKIPPED_AGREEMENT });
  const stored = JSON.parse(fs.readFileSync(path.join(root, 'skip-lib', 'metadata.json'), 'utf8')).agreement;
  assert.equal(stored.measured, false);
  assert.equal(stored.skipped, true);
  assert.match(stored.reason, /skipped on request \(--skip-agreement, skipAgreement: true\)/);
  assert.match(fs.readFileSync(path.join(root, 'skip-lib', 'index.html'), 'utf8'), /"skipped":true/);
  // the CLI: one line on stdout, no warning (it was asked for)
  const out = path.join(root, 'skip-cli');
  const r = cli('export', run, '--format', 'tm', '--quantize', 'uint8', '--skip-agreement', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /agreement with the unquantized model: not measured \(--skip-agreement; metadata\.json records agreement\.skipped\)/,
  );
  assert.doesNotMatch(r.stdout, /same label on/);
  assert.doesNotMatch(r.stderr, /warning|not checked/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8')).userMetadata.tlkit.agreement.skipped, true);
  // nothing to skip without --quantize, and --data contradicts it: refused before any work
  const plain = cli('export', run, '--format', 'tfjs', '--skip-agreement', '--out', path.join(root, 'skip-plain'));
  assert.equal(plain.status, 2);
  assert.match(plain.stderr, /--skip-agreement skips a quantized export's check .* without --quantize/);
  const both = cli(
    'export',
    run,
    '--format',
    'tfjs',
    '--quantize',
    'uint8',
    '--skip-agreement',
    '--data',
    data,
    '--out',
    path.join(root, 'skip-both'),
  );
  assert.equal(both.status, 2);
  assert.match(both.stderr, /--skip-agreement and --data contradict each other/);
  assert.equal(fs.existsSync(path.join(root, 'skip-both')), false);
});

test('the uint8 rule: small tensors and tensors one range holds badly at 16 bits, large well-held ones at uint8', () => {
  let s = 1;
  const noise = (n: number, scale: (i: number) => number) =>
    Float32Array.from({ length: n }, (_, i) => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * scale(i));
  const small = noise(UINT8_MIN_VALUES - 1, () => 1);
  assert.equal(encodingOf('uint8', small), 'float16');
  assert.equal(encodingOf('uint8', small, 'uint16'), 'uint16');
  const even = noise(UINT8_MIN_VALUES, () => 1);
  assert.ok(uint8RelativeError(even) < 0.01);
  assert.equal(encodingOf('uint8', even), 'uint8');
  // one channel in 64 ten times larger than the rest: the others get few levels
  const uneven = noise(UINT8_MIN_VALUES, (i) => (i % 64 === 0 ? 10 : 1));
  assert.ok(uint8RelativeError(uneven) > 0.02, String(uint8RelativeError(uneven)));
  assert.equal(encodingOf('uint8', uneven), 'float16');
  assert.equal(encodingOf('uint16', uneven), 'uint16');
  assert.equal(encodingOf('float16', even), 'float16');
});

test('describeAgreement: the line printed, and a warning below 99% naming a safer --quantize', () => {
  const a: MeasuredAgreement = {
    measured: true,
    split: 'validation',
    dir: '/data/validation',
    images: 1000,
    compared: 'top label',
    sameLabel: 983,
    labelAgreement: 0.983,
    maxProbabilityDifference: 0.998,
    meanProbabilityDifference: 0.0165,
    disagreements: [
      {
        file: '/data/validation/dogs/dog.1.jpg',
        reference: { label: 'dogs', probability: 0.6105 },
        quantized: { label: 'cats', probability: 1 },
      },
    ],
  };
  const d = describeAgreement(a, 'uint8', 'tfjs');
  assert.match(
    d.text,
    /on 1000 validation images \(\/data\/validation\): same label on 983\/1000 \(98\.30%\), largest probability difference 0\.9980/,
  );
  assert.match(d.warning ?? '', /change the predicted label of 17 of 1000 images \(98\.30% agree, below 99%\)/);
  assert.match(d.warning ?? '', /dog\.1\.jpg: dogs 0\.6105 -> cats 1\.0000/);
  assert.match(d.warning ?? '', /Use --quantize float16 \(/);
  assert.match(describeAgreement(a, 'uint8', 'tm').warning ?? '', /Use --quantize uint16 \(/);
  assert.match(describeAgreement(a, 'uint16', 'tm').warning ?? '', /Use no --quantize \(float32 weights/);
  assert.match(describeAgreement(a, 'float16', 'tfjs').warning ?? '', /Use no --quantize \(float32 weights/);
  assert.equal(describeAgreement({ ...a, sameLabel: 990, labelAgreement: 0.99 }, 'uint8', 'tfjs').warning, undefined);
  // multi-label: label sets compared, the example names the label whose decision changed
  const sets = describeAgreement(
    {
      ...a,
      compared: 'label set',
      disagreements: [
        {
          file: '/v/x.png',
          reference: { label: 'cats+noisy', probability: 0.51 },
          quantized: { label: 'cats', probability: 0.49 },
          changed: 'noisy',
        },
      ],
    },
    'uint8',
    'tfjs',
  );
  assert.match(sets.text, /same label set on 983\/1000/);
  assert.match(sets.warning ?? '', /change the predicted label set of 17 of 1000 images/);
  assert.match(sets.warning ?? '', /x\.png: cats\+noisy 0\.5100 -> cats 0\.4900 \(P\(noisy\)\)/);
});
