/**
 * tlkit from a cold start, each figure from fresh processes, beside PyTorch in the same run:
 *   (a) VGG16@180 fp32 extraction of 300 JPEGs (`tlkit extract`), from process start: with a cold
 *       graph cache (the base exported to ONNX in the process) and a warm one (the exported graph
 *       read from the cache); PyTorch's time includes its interpreter start and imports too.
 *   (b) VGG16@180 int8 extraction of 1,000 JPEGs, first run: calibration included, caches cold.
 *   (c) the book's features workflow, two processes: `tlkit train --mode features` (extraction of
 *       train/ and validation/, 20 epochs of the head with its checkpoints) then `tlkit evaluate`
 *       (the test split); 600 train, 200 validation, 200 test JPEGs (1,000); caches cold; fp32, and
 *       int8 beside. PyTorch: bench/coldstart_pytorch.py train, then evaluate.
 *   (d) `tlkit predict` of one photo from a fresh process, median of 5, once the run's graph is cached
 *       (the run of (c), else a 2-epoch run made here); the first, uncached predict printed beside.
 * The base is VGG16 with random weights (no ImageNet weights offline), saved once as a tfjs folder so
 * that every process loads the same weights (a graph cache can only serve weights it has seen).
 * PyTorch: Debian's python3-torch, every core, PIL decoding in DataLoader workers.
 *
 *   node --import tsx bench/coldStart.ts [--only a,b,c,d] [--tlkit bin/tlkit.js] [--no-torch]
 *        [--epochs 20] [--data ../shared/data/cats_vs_dogs_small]
 * --tlkit: the CLI entry the child processes run (default: bin/tlkit.js, the `tlkit` command a user
 * runs, on the compiled dist/; build it first, `npm run build`, so the figures are the CLI's and not
 * tsx's compile time).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { vgg16Architecture } from '../src/applications/vgg16.js';
import { initBackend } from '../src/tfjs/backend.js';
import { fileSystemIO } from '../src/weights/tfjsFiles.js';
import { flag, numberArg, SHARED_DATA, stringArg } from './args.js';
import { ensureTorch, machineLine, PYTHON } from './pytorch.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const only = new Set((stringArg('--only', 'a,b,c,d') as string).split(',').map((s) => s.trim()));
const tlkitMain = path.resolve(stringArg('--tlkit', path.join(repo, 'bin/tlkit.js')) as string);
const epochs = numberArg('--epochs', 20);
const data = stringArg('--data', SHARED_DATA) as string;
const script = path.join(here, 'coldstart_pytorch.py');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-coldstart-'));
// Removed however the bench ends (its data subsets are symlinks, its outputs hundreds of MB).
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
const withTorch = !flag('--no-torch') && ensureTorch({ packages: ['python3-pil'], modules: ['PIL'] });

if (!fs.existsSync(tlkitMain)) {
  console.error(`${tlkitMain} does not exist: pass --tlkit PATH/bin/tlkit.js.`);
  process.exit(1);
}

/** A data folder of symlinks: `counts[split]` images of each class, the first in name order. */
function subset(name: string, counts: Record<string, number>): string {
  const root = path.join(work, name);
  for (const [split, n] of Object.entries(counts)) {
    for (const c of ['cats', 'dogs']) {
      const from = path.join(data, split, c);
      fs.mkdirSync(path.join(root, split, c), { recursive: true });
      for (const f of fs.readdirSync(from).sort().slice(0, n)) fs.symlinkSync(path.join(from, f), path.join(root, split, c, f));
    }
  }
  return root;
}

/** VGG16's conv base at 180x180 with random weights, as a tfjs folder: the same weights in every process. */
async function vggFolder(): Promise<string> {
  await initBackend();
  const dir = path.join(work, 'vgg16-180');
  const model = vgg16Architecture({ includeTop: false, weights: 'none', inputShape: [180, 180, 3] });
  await model.save(fileSystemIO(dir));
  model.dispose();
  return dir;
}

interface Timed {
  seconds: number;
  stdout: string;
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Timed {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return { seconds, stdout: r.stdout };
}

/** One tlkit command in a fresh node process, with its caches where `cache` says. */
function tlkit(args: string[], cache: { root: string; graphs?: string }): Timed {
  return timed(process.execPath, [tlkitMain, ...args], {
    TLKIT_CACHE: cache.root,
    TLKIT_GRAPH_CACHE: cache.graphs ?? path.join(cache.root, 'graphs'),
  });
}

function torch(args: string[]): Timed | undefined {
  return withTorch ? timed(PYTHON, [script, ...args]) : undefined;
}

let fresh = 0;
function freshDir(what: string): string {
  fresh += 1;
  return path.join(work, `${what}-${fresh}`);
}

const s = (t: number) => `${t.toFixed(t < 10 ? 2 : 1)} s`;
function row(label: string, t: number, n?: number, baseline?: number): void {
  const rate = n ? `  ${(n / t).toFixed(1)} images/s` : '';
  const ratio = baseline ? `  ${(baseline / t).toFixed(2)}x PyTorch` : '';
  console.log(`  ${label.padEnd(50)} ${s(t).padStart(8)}${rate}${ratio}`);
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(machineLine());
console.log(`tlkit: node ${tlkitMain}; PyTorch: ${withTorch ? `${PYTHON} ${path.relative(repo, script)}` : 'skipped'}; work: ${work}`);
const vgg = await vggFolder();
let fp32Run: string | undefined;

if (only.has('a')) {
  const photos = subset('a-300', { train: 150 });
  console.log('\n(a) VGG16@180 fp32 extraction of 300 JPEGs, from process start (target >= 1.3x PyTorch)');
  const pt = torch(['extract', path.join(photos, 'train'), path.join(work, 'a-torch.npy')]);
  const graphs = freshDir('a-graphs');
  const extract = () => ['extract', '--base', vgg, '--data', photos, '--out', freshDir('a-features'), '--json'];
  const cold = tlkit(extract(), { root: freshDir('a-cache'), graphs });
  const warm = tlkit(extract(), { root: freshDir('a-cache'), graphs });
  if (pt) row('PyTorch', pt.seconds, 300);
  row('tlkit, graph cache cold (export in the process)', cold.seconds, 300, pt?.seconds);
  row('tlkit, graph cache warm', warm.seconds, 300, pt?.seconds);
}

if (only.has('b')) {
  const photos = subset('b-1000', { train: 500 });
  console.log('\n(b) VGG16@180 int8 extraction of 1,000 JPEGs, first run with calibration (target >= 3x PyTorch fp32)');
  const pt = torch(['extract', path.join(photos, 'train'), path.join(work, 'b-torch.npy')]);
  const int8 = tlkit(['extract', '--base', vgg, '--data', photos, '--out', freshDir('b-features'), '--precision', 'int8', '--json'], {
    root: freshDir('b-cache'),
  });
  if (pt) row('PyTorch fp32', pt.seconds, 1000);
  row('tlkit int8, calibration included, caches cold', int8.seconds, 1000, pt?.seconds);
}

if (only.has('c')) {
  const photos = subset('c-1000', { train: 300, validation: 100, test: 100 });
  console.log(
    `\n(c) features workflow from a cold start, VGG16@180, 1,000 JPEGs, ${epochs} epochs: train, then evaluate (target >= 1.5x PyTorch at fp32)`,
  );
  let pt: number | undefined;
  if (withTorch) {
    const run = freshDir('c-torch');
    const train = torch(['train', photos, run, String(epochs)]) as Timed;
    const evaluate = torch(['evaluate', photos, run]) as Timed;
    pt = train.seconds + evaluate.seconds;
    row(`PyTorch (train ${s(train.seconds)}, evaluate ${s(evaluate.seconds)})`, pt);
  }
  for (const precision of ['fp32', 'int8']) {
    const cache = { root: freshDir('c-cache') };
    const run = freshDir(`c-run-${precision}`);
    const train = tlkit(
      ['train', '--mode', 'features', '--base', vgg, '--data', photos, '--out', run, '--epochs', String(epochs), '--precision', precision],
      cache,
    );
    const evaluate = tlkit(['evaluate', '--model', run, '--json'], cache);
    row(`tlkit ${precision} (train ${s(train.seconds)}, evaluate ${s(evaluate.seconds)})`, train.seconds + evaluate.seconds, undefined, pt);
    if (precision === 'fp32') fp32Run = run;
  }
}

if (only.has('d')) {
  console.log('\n(d) tlkit predict of one photo from a fresh process, once the run graph is cached (target < 1 s)');
  const cache = { root: freshDir('d-cache') };
  let run = fp32Run;
  if (!run) {
    run = freshDir('d-run');
    const photos = subset('d-data', { train: 10, validation: 5 });
    tlkit(['train', '--mode', 'features', '--base', vgg, '--data', photos, '--out', run, '--epochs', '2'], cache);
  }
  const photo = path.join(data, 'test', 'cats', fs.readdirSync(path.join(data, 'test', 'cats')).sort()[0]);
  const first = tlkit(['predict', '--model', run, photo], cache);
  const times = Array.from({ length: 5 }, () => tlkit(['predict', '--model', run, photo], cache).seconds);
  const version = median(Array.from({ length: 5 }, () => tlkit(['--version'], cache).seconds));
  row('first predict (graph built and cached)', first.seconds);
  console.log(
    `  ${'predict, graph cached: median of 5'.padEnd(50)} ${s(median(times)).padStart(8)}  (${times.map((t) => t.toFixed(2)).join(' ')})`,
  );
  row('tlkit --version (node start + CLI), median of 5', version);
}

console.log(`\n${machineLine()}`);
