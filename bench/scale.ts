/**
 * Scale bench: what grows with the number of images, and what sharding buys on one machine.
 *
 *   node --import tsx bench/scale.ts [--sizes 1000,4000,40000] [--epochs 2] [--families] [--work DIR] [--tlkit bin/tlkit.js]
 *
 * - Extraction images/s of the shared MobileNet at 224 over the 4,000 shared photos with 1
 *   process, then with 2 local shards at once (`tlkit extract --shard 0/2` and `1/2`), and the
 *   merge of those 2 shards (seconds, MB/s; checked byte-equal to the 1-process features).
 * - Peak RSS (VmHWM, read as each command exits) of `tlkit extract`, `tlkit train --mode
 *   features` (reading the extracted cache with --cache-dir) and `tlkit predict` at each size.
 *   Sizes above 4,000 link the shared photos again under new names (40,000 = 10 copies: 20,000
 *   train, 10,000 validation, 10,000 test); below, the first photos of each folder.
 *   Training's peak at the largest size is compared with its peak at 4,000 (target <= 1.5x).
 * - --families: feature bytes per image of every family at its default size, and extraction
 *   images/s (ONNX Runtime, random weights, decoding excluded), for sizing a cluster.
 * The baseline of each figure is in the same run: 1 process for 2 shards, 4,000 photos for
 * the largest size.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FAMILIES, FAMILY_NAMES } from '../src/applications/index.js';
import { benchExtraction } from '../src/applications/catalog.js';
import { initBackend } from '../src/tfjs/backend.js';
import { flag, numberArg, SHARED_DATA, SHARED_MOBILENET, stringArg } from './args.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sizes = (stringArg('--sizes') ?? '1000,4000,40000').split(',').map(Number);
const epochs = numberArg('--epochs', 2);
const work = stringArg('--work') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-scale-'));
// --tlkit: another build's bin/tlkit.js (a snapshot, so a long run is not disturbed by rebuilds).
const bin = stringArg('--tlkit') ?? path.join(repoRoot, 'bin/tlkit.js');

// Each child writes its peak resident set (VmHWM) when it exits: exact, and no polling.
const PEAK_HOOK = `data:text/javascript,${encodeURIComponent(
  "import fs from 'node:fs'; process.on('exit', () => { const m = /VmHWM:\\s+(\\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8')); if (m && process.env.TLKIT_PEAK_FILE) fs.writeFileSync(process.env.TLKIT_PEAK_FILE, m[1]); });",
)}`;

interface Measured {
  seconds: number;
  peakMB: number;
  stdout: string;
}

/** Run `tlkit args` (stdout to `stdoutFile` when given), with its wall time and peak RSS. */
function tlkit(args: string[], stdoutFile?: string): Promise<Measured> {
  const peakFile = path.join(work, `.peak-${process.hrtime.bigint()}`);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', PEAK_HOOK, bin, ...args], {
      env: { ...process.env, TLKIT_PEAK_FILE: peakFile },
      stdio: ['ignore', stdoutFile ? fs.openSync(stdoutFile, 'w') : 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`tlkit ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      const kb = Number(fs.readFileSync(peakFile, 'utf8'));
      fs.rmSync(peakFile, { force: true });
      resolve({ seconds: (performance.now() - t0) / 1000, peakMB: kb / 1024, stdout });
    });
  });
}

/** A data folder of `n` photos in the shared layout: the first n/4000 of each folder, or the shared photos linked again under new names. */
function dataOf(n: number): string {
  const dir = path.join(work, `data-${n}`);
  if (fs.existsSync(dir)) return dir;
  const copies = Math.ceil(n / 4000);
  for (const split of ['train', 'validation', 'test']) {
    for (const cls of ['cats', 'dogs']) {
      const src = path.join(SHARED_DATA, split, cls);
      const files = fs.readdirSync(src).sort();
      const take = copies === 1 ? Math.round((files.length * n) / 4000) : files.length;
      const dst = path.join(dir, split, cls);
      fs.mkdirSync(dst, { recursive: true });
      for (let c = 0; c < copies; c++)
        for (const f of files.slice(0, take)) {
          const name = copies === 1 ? f : f.replace(/\.jpg$/, `.copy${c}.jpg`);
          fs.symlinkSync(path.join(src, f), path.join(dst, name));
        }
    }
  }
  return dir;
}

const mb = (x: number) => `${x.toFixed(0)} MB`;
const base = ['--base', SHARED_MOBILENET];

async function shardsOnOneMachine(): Promise<void> {
  const data = dataOf(4000);
  const one = path.join(work, 'one-process');
  const single = await tlkit(['extract', ...base, '--data', data, '--out', one]);
  const two = path.join(work, 'two-shards');
  const t0 = performance.now();
  await Promise.all([0, 1].map((k) => tlkit(['extract', ...base, '--data', data, '--out', two, '--shard', `${k}/2`])));
  const both = (performance.now() - t0) / 1000;
  const merged = await tlkit(['merge', two, '--json']);
  const r = JSON.parse(merged.stdout) as { seconds: number; featureBytes: number };
  const same = ['train', 'validation', 'test'].every((s) =>
    fs.readFileSync(path.join(one, s, 'features.npy')).equals(fs.readFileSync(path.join(two, s, 'features.npy'))),
  );
  console.log(`\nExtraction, shared MobileNet at 224, 4,000 photos, ${os.cpus().length} cores (${os.cpus()[0].model})`);
  console.log('| processes | wall s | images/s | vs 1 process |');
  console.log('| --- | --- | --- | --- |');
  console.log(`| 1 (tlkit extract) | ${single.seconds.toFixed(1)} | ${(4000 / single.seconds).toFixed(1)} | 1.00 |`);
  console.log(`| 2 local shards at once | ${both.toFixed(1)} | ${(4000 / both).toFixed(1)} | ${(single.seconds / both).toFixed(2)} |`);
  console.log(
    `Merge of the 2 shards: ${r.seconds.toFixed(2)} s in-process (${merged.seconds.toFixed(1)} s with the command's start) for ${(r.featureBytes / 1e6).toFixed(0)} MB of features, ${(r.featureBytes / 1e6 / r.seconds).toFixed(0)} MB/s; byte-equal to 1 process: ${same}`,
  );
}

async function memoryAtSizes(): Promise<void> {
  const rows: Array<{ n: number; extract: Measured; train: Measured; predict: Measured }> = [];
  for (const n of sizes) {
    const data = dataOf(n);
    const features = path.join(work, `features-${n}`);
    const extract = await tlkit(['extract', ...base, '--data', data, '--out', features]);
    const run = path.join(work, `run-${n}`);
    const train = await tlkit([
      'train',
      ...base,
      '--data',
      data,
      '--mode',
      'features',
      '--cache-dir',
      features,
      '--out',
      run,
      '--epochs',
      String(epochs),
      '--json',
    ]);
    const predict = await tlkit(['predict', '--model', run, data, '--format', 'csv'], path.join(work, `predictions-${n}.csv`));
    rows.push({ n, extract, train, predict });
    console.log(
      `${n} photos: extract ${mb(extract.peakMB)} (${extract.seconds.toFixed(0)} s), train ${mb(train.peakMB)} (${train.seconds.toFixed(0)} s), predict ${mb(predict.peakMB)} (${predict.seconds.toFixed(0)} s)`,
    );
  }
  console.log(`\nPeak RSS (VmHWM), shared MobileNet at 224, features mode ${epochs} epochs`);
  console.log('| photos | extract | train --mode features | predict (all photos) | feature cache on disk |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const bytes = ['train', 'validation', 'test'].reduce(
      (s, sp) => s + fs.statSync(path.join(work, `features-${r.n}`, sp, 'features.npy')).size,
      0,
    );
    console.log(`| ${r.n} | ${mb(r.extract.peakMB)} | ${mb(r.train.peakMB)} | ${mb(r.predict.peakMB)} | ${(bytes / 1e9).toFixed(2)} GB |`);
  }
  const at4k = rows.find((r) => r.n === 4000);
  const largest = rows[rows.length - 1];
  if (at4k && largest.n > 4000) {
    const ratio = largest.train.peakMB / at4k.train.peakMB;
    console.log(`train peak at ${largest.n} / at 4000: ${ratio.toFixed(2)}x (target <= 1.5x): ${ratio <= 1.5 ? 'PASS' : 'FAIL'}`);
  }
}

async function familySizing(): Promise<void> {
  await initBackend();
  console.log(
    '\nPer family at its default size: feature bytes per image (float32) and extraction images/s (random weights, decoding excluded)',
  );
  console.log('| family | size | feature shape | bytes/image | images/s | images/s per core |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const name of FAMILY_NAMES) {
    const f = FAMILIES[name];
    const model = f.architecture({ includeTop: false, weights: 'none', inputShape: [f.defaultSize, f.defaultSize, 3] });
    const shape = (model.outputs[0].shape as number[]).slice(1);
    model.dispose();
    const rate = await benchExtraction(name, { seconds: 3 });
    const bytes = shape.reduce((a, b) => a * b, 4);
    console.log(
      `| ${name} | ${f.defaultSize} | ${shape.join('x')} | ${bytes.toLocaleString('en')} | ${rate.toFixed(1)} | ${(rate / os.cpus().length).toFixed(1)} |`,
    );
  }
}

console.log(`bench/scale.ts in ${work}; node ${process.version}; ${os.cpus().length} x ${os.cpus()[0].model}`);
if (flag('--families')) await familySizing();
if (!flag('--no-shards')) await shardsOnOneMachine();
if (!flag('--no-memory')) await memoryAtSizes();
