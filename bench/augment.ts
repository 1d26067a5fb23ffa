/**
 * The book's augment mode against PyTorch, each from process start, in the same run.
 * Run: node --import tsx bench/augment.ts [--train 200] [--val 100] [--epochs 2] [--base vgg16|mobilenet]
 *        [--no-torch] [--only micro|cli]   (cli runs bin/tlkit.js: `npm run build` first)
 *
 * micro: the augmentation alone (flip, rotation 0.1, zoom 0.2; reflect fill, bilinear) on
 *        batches of 32 images at 180x180: on the main thread, and on the pool of worker
 *        threads training uses; images/s, after a warm-up batch.
 * cli:   `tlkit train --mode augment --epochs 2` (VGG16 at 180x180, random weights: no ImageNet
 *        weights offline, the speed is the same) over `--train` JPEGs, validated on `--val`
 *        every epoch, in a fresh cache (the first run: the base exported to ONNX, the
 *        validation features extracted), timed from outside with GNU time; beside
 *        bench/augment_pytorch.py doing the same epochs (torchvision transforms in
 *        DataLoader workers, one a core; the base over the validation images every epoch).
 *        CPU use: (user + system seconds of the process and its children) / wall / cores.
 *        `--base mobilenet`: the shared MobileNet at 224 instead (tlkit only: torchvision
 *        has no MobileNet v1), where the augmentation, not the base, is most of the work.
 * PyTorch is Debian's python3-torch and python3-torchvision (+ python3-pil), installed with
 * apt-get when missing; where that fails its row is skipped with a note.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AugmentPool, defaultAugmentThreads } from '../src/augment/augmentPool.js';
import { BOOK_AUGMENTATION } from '../src/augment/params.js';
import { drawAugmentation } from '../src/augment/pipeline.js';
import { applyPlan } from '../src/augment/plan.js';
import { Rng } from '../src/io/rng.js';
import { readMeta } from '../src/run/meta.js';
import { linkedPhotoData, SHARED_MOBILENET } from '../src/testing/linkedPhotos.js';
import { flag, numberArg, stringArg } from './args.js';
import { ensureTorch, machineLine, PYTHON } from './pytorch.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const only = stringArg('--only');
const nTrain = numberArg('--train', 200);
const nVal = numberArg('--val', 100);
const epochs = numberArg('--epochs', 2);
const baseName = stringArg('--base', 'vgg16');
const cores = os.availableParallelism();

async function micro(): Promise<void> {
  const shape: [number, number, number, number] = [32, 180, 180, 3];
  const rng = new Rng(1);
  const images = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next() * 255);
  const batches = 6;
  const rate = async (f: () => Promise<unknown>) => {
    await f(); // warm-up: the JIT, the workers' start
    const t0 = performance.now();
    for (let i = 0; i < batches; i++) await f();
    return (batches * shape[0]) / ((performance.now() - t0) / 1000);
  };
  const mainThread = await rate(async () =>
    applyPlan(images, new Float32Array(images.length), drawAugmentation(rng, shape, BOOK_AUGMENTATION)),
  );
  const pool = new AugmentPool(defaultAugmentThreads());
  const pooled = await rate(() => pool.apply(images, drawAugmentation(rng, shape, BOOK_AUGMENTATION)));
  await pool.close();
  console.log(`micro: the book's augmentation, batches of 32 at 180x180 (${batches} batches after a warm-up)`);
  console.log(`  main thread:                    ${mainThread.toFixed(0)} images/s`);
  console.log(`  ${pool.threads} worker threads (training's): ${pooled.toFixed(0)} images/s (${(pooled / mainThread).toFixed(2)}x)`);
}

interface Timed {
  wall: number;
  cpu: number;
  stdout: string;
}

/** Run a command under GNU time: wall seconds, and user + system seconds of it and its children. */
function timed(cmd: string[], env: Record<string, string> = {}): Timed {
  const report = path.join(os.tmpdir(), `tlkit-bench-time-${process.pid}.txt`);
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S', '-o', report, ...cmd], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} exited with ${r.status}`);
  const [wall, user, sys] = fs.readFileSync(report, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  fs.rmSync(report, { force: true });
  return { wall, cpu: user + sys, stdout: r.stdout };
}

const cpuUse = (t: Timed) =>
  `${t.cpu.toFixed(1)} CPU s, using ${(t.cpu / t.wall).toFixed(2)} of ${cores} cores (${((100 * t.cpu) / t.wall / cores).toFixed(0)}%)`;

async function cli(): Promise<void> {
  if (!fs.existsSync(path.join(repoRoot, 'dist'))) throw new Error('bin/tlkit.js runs dist/: run `npm run build` first.');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-augment-'));
  const data = path.join(root, 'data');
  linkedPhotoData(data, Math.ceil(nTrain / 2), ['train']);
  linkedPhotoData(data, Math.ceil(nVal / 2), ['validation']);
  const base = baseName === 'mobilenet' ? ['--base', SHARED_MOBILENET] : ['--base', 'vgg16', '--weights', 'none', '--image-size', '180'];
  const out = path.join(root, 'run');
  console.log(
    `\ncli: the book's augment mode (flip, rotation 0.1, zoom 0.2, frozen ${baseName === 'mobilenet' ? 'shared MobileNet@224' : 'VGG16@180'}, the head), ${epochs} epochs over ${nTrain} train JPEGs, validation on ${nVal} every epoch, from process start`,
  );
  const argv = ['train', '--data', data, ...base, '--mode', 'augment', '--epochs', String(epochs), '--batch-size', '32', '--out', out];
  const t = timed([process.execPath, path.join(repoRoot, 'bin/tlkit.js'), ...argv], { TLKIT_CACHE: path.join(root, 'cache') });
  const meta = await readMeta(out);
  const fit = meta.timings.augmentTrainSeconds;
  const frozen = meta.timings.frozenBaseSeconds;
  console.log(
    `  tlkit: ${t.wall.toFixed(1)} s, ${cpuUse(t)}${fit ? `; ${epochs} epochs ${fit.toFixed(1)} s` : ''}${frozen ? ` (ONNX Runtime on the frozen base ${frozen.toFixed(1)} s)` : ''}`,
  );
  if (
    baseName === 'vgg16' &&
    !flag('--no-torch') &&
    ensureTorch({ packages: ['python3-pil', 'python3-torchvision'], modules: ['PIL', 'torchvision'] })
  ) {
    const p = timed([PYTHON, path.join(repoRoot, 'bench/augment_pytorch.py'), data, String(epochs), String(cores)]);
    const j = JSON.parse(p.stdout.trim().split('\n').pop() as string) as { epochSeconds: number[]; threads: number; torch: string };
    console.log(
      `  PyTorch ${j.torch} (${j.threads} threads, ${cores} DataLoader workers): ${p.wall.toFixed(1)} s, ${cpuUse(p)}; epochs ${j.epochSeconds.map((s) => s.toFixed(1)).join(' / ')} s`,
    );
    console.log(`  tlkit / PyTorch, from process start: ${(p.wall / t.wall).toFixed(2)}x   (the target: >= 1.5x)`);
    // Under other load the wall times say little; the CPU seconds each spent say more.
    console.log(`  tlkit / PyTorch in CPU seconds: ${(p.cpu / t.cpu).toFixed(2)}x`);
  }
  fs.rmSync(root, { recursive: true, force: true });
}

console.log(machineLine());
if (!only || only === 'micro') await micro();
if (!only || only === 'cli') await cli();
