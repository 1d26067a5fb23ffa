/**
 * fastai's recipe against the book's fast feature extraction: on the shared cats-vs-dogs data
 * (2,000 train / 1,000 validation / 1,000 test) with the shared pretrained MobileNet v1 at
 * 224x224, for each seed:
 *
 *   1. lr-find (fastai's lr_find on the frozen model: the recipe's head on cached features, with
 *      its AdamW), once; its minimum/10 suggestion (fastbook's rule; --suggestion valley|steep for
 *      the others) is the recipe's base rate (or --lr);
 *   2. features mode with its defaults (the baseline, measured in the same run);
 *   3. `--recipe fine-tune` with the suggested rate (its own defaults otherwise);
 *
 * then both saved models evaluated on test/, plain and with test-time augmentation (4 views).
 * Prints test accuracy, epochs and wall time of each, and TTA's effect.
 * Target: the recipe's test accuracy >= 0.990 and above features mode's, on both seeds.
 *
 *   node --import tsx bench/recipe.ts [--seeds 1,2] [--lr X] [--suggestion minimum|valley|steep] [--epochs N] [--unfreeze N] [--lr-mult N]
 *     [--augment] [--pooling avg] [--engine ort|tfjs] [--image-size 224] [--cache DIR] [--no-features]
 *
 * Extra recipe options (--epochs, --unfreeze, --lr-mult, --augment, --pooling) are passed to the recipe's
 * run only; left out, the recipe's own defaults apply.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadClassifier } from '../src/inference/classifier.js';
import type { HeadPooling, TrainOptionsInput } from '../src/workflows/options.js';
import { lrFind } from '../src/workflows/lrFind.js';
import { withRecipeDefaults } from '../src/workflows/recipe.js';
import { train } from '../src/workflows/train.js';
import { flag, numberArg, SHARED_DATA, SHARED_MOBILENET, stringArg } from './args.js';

const TARGET = 0.99;
const TTA_VIEWS = 4;

interface RunResult {
  label: string;
  seed: number;
  epochs: number;
  bestEpoch: number;
  seconds: number;
  testAccuracy: number;
  ttaAccuracy: number;
}

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 60000).toFixed(1)} min`;
const say = (line: string) => console.log(`[${elapsed()}] ${line}`);

async function runAndEvaluate(label: string, seed: number, opts: TrainOptionsInput, data: string): Promise<RunResult> {
  const t0 = performance.now();
  const r = await train(opts, { log: (l) => (/^\s*\d+\/\d+|ETA/.test(l) ? undefined : say(`  ${label}: ${l}`)) });
  const seconds = (performance.now() - t0) / 1000;
  const classifier = await loadClassifier(opts.out);
  const plain = await classifier.evaluate(data);
  const tta = await classifier.evaluate(data, { tta: TTA_VIEWS });
  await classifier.dispose();
  return {
    label,
    seed,
    epochs: r.history.epoch.length,
    bestEpoch: r.bestEpoch + 1,
    seconds,
    testAccuracy: plain.accuracy,
    ttaAccuracy: tta.accuracy,
  };
}

async function main(): Promise<void> {
  const data = stringArg('--data', SHARED_DATA);
  const base = stringArg('--base', SHARED_MOBILENET);
  const imageSize = numberArg('--image-size', 224);
  const seeds = stringArg('--seeds', '1,2').split(',').map(Number);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-recipe-'));
  const cacheDir = stringArg('--cache', path.join(workDir, 'feature-cache'));
  const engine = stringArg('--engine', 'ort') as 'ort' | 'tfjs';
  // fastbook's rule (chapter 5): a tenth of the rate at the loss's minimum; --suggestion valley is fastai's lr_find default.
  const suggestion = stringArg('--suggestion', 'minimum') as 'minimum' | 'valley' | 'steep';
  const common = { data, base, imageSize, cacheDir, engine, verbose: 1 as const };
  const recipeExtra: Partial<TrainOptionsInput> = {
    ...(stringArg('--epochs') ? { epochs: numberArg('--epochs', NaN) } : {}),
    ...(stringArg('--unfreeze') ? { unfreeze: numberArg('--unfreeze', NaN) } : {}),
    ...(stringArg('--lr-mult') ? { lrMult: numberArg('--lr-mult', NaN) } : {}),
    ...(stringArg('--pooling') ? { pooling: stringArg('--pooling') as HeadPooling } : {}),
    ...(flag('--augment') ? { augment: true } : {}),
  };
  console.log(`bench/recipe: ${os.cpus().length} cores (${os.cpus()[0]?.model}), load ${os.loadavg()[0].toFixed(1)}`);
  console.log(`data ${data}, base ${base} at ${imageSize}x${imageSize}, seeds ${seeds.join(', ')}, engine ${engine}, work dir ${workDir}`);
  console.log(`recipe options beyond its defaults: ${JSON.stringify(recipeExtra)}`);

  // 1. lr-find on the frozen model, as fastai's users call it before fine_tune.
  let lr = stringArg('--lr') ? numberArg('--lr', NaN) : undefined;
  if (lr === undefined) {
    const t0 = performance.now();
    // What the recipe's first phase trains: its head (pooled, ReLU) on the frozen base, with its AdamW.
    const {
      learningRate: _recipeRate,
      freezeEpochs: _head,
      lrMult: _mult,
      ...recipe
    } = withRecipeDefaults({
      ...common,
      recipe: 'fine-tune' as const,
      seed: seeds[0],
      ...recipeExtra,
    });
    const found = await lrFind(recipe, { log: (l) => say(`  lr-find: ${l}`) });
    const s = found.suggestions;
    say(
      `lr-find (${found.what}, ${found.rates.length} steps, ended: ${found.ended}, ${((performance.now() - t0) / 1000).toFixed(0)} s): ` +
        (s
          ? `valley ${s.valley.rate.toExponential(2)}, steep ${s.steep.rate.toExponential(2)}, minimum/10 ${s.minimum.rate.toExponential(2)}`
          : 'no suggestion'),
    );
    lr = s?.[suggestion].rate;
    if (lr !== undefined) say(`the recipe's base rate: lr-find's ${suggestion} suggestion, ${lr.toExponential(2)}`);
    if (lr === undefined) say('lr-find gave no suggestion: the recipe runs at its default base rate 2e-3.');
  } else {
    say(`--lr ${lr}: lr-find skipped.`);
  }

  const results: RunResult[] = [];
  for (const seed of seeds) {
    if (!flag('--no-features')) {
      const out = path.join(workDir, `features-${seed}`);
      const r = await runAndEvaluate('features', seed, { ...common, mode: 'features', seed, out }, data);
      results.push(r);
      report(r);
    }
    const out = path.join(workDir, `recipe-${seed}`);
    const r = await runAndEvaluate('recipe', seed, { ...common, recipe: 'fine-tune', learningRate: lr, seed, out, ...recipeExtra }, data);
    results.push(r);
    report(r);
  }

  console.log(`\nbase rate ${lr?.toExponential(2) ?? '2e-3 (the recipe default)'}; TTA: ${TTA_VIEWS} views (fastai's blend, beta 0.25)`);
  console.log('run        seed  epochs  best  wall s   test acc   with TTA   TTA effect');
  for (const r of results) {
    const d = (r.ttaAccuracy - r.testAccuracy) * 100;
    console.log(
      `${r.label.padEnd(10)} ${String(r.seed).padStart(4)}  ${String(r.epochs).padStart(6)}  ${String(r.bestEpoch).padStart(4)}  ${r.seconds.toFixed(0).padStart(6)}   ${r.testAccuracy.toFixed(4)}     ${r.ttaAccuracy.toFixed(4)}     ${d >= 0 ? '+' : ''}${d.toFixed(1)} points`,
    );
  }
  for (const seed of seeds) {
    const recipe = results.find((r) => r.label === 'recipe' && r.seed === seed)!;
    const features = results.find((r) => r.label === 'features' && r.seed === seed);
    const meets = recipe.testAccuracy >= TARGET && (!features || recipe.testAccuracy > features.testAccuracy);
    console.log(
      `seed ${seed}: recipe ${recipe.testAccuracy.toFixed(4)} vs features ${features?.testAccuracy.toFixed(4) ?? '(not run)'}: ${meets ? 'meets' : 'MISSES'} the target (>= ${TARGET} and above features mode)`,
    );
  }
  console.log(`total ${elapsed()}`);
}

function report(r: RunResult): void {
  say(
    `${r.label} seed ${r.seed}: test accuracy ${r.testAccuracy.toFixed(4)} (TTA ${r.ttaAccuracy.toFixed(4)}), ${r.epochs} epochs (best ${r.bestEpoch}), ${r.seconds.toFixed(0)} s`,
  );
}

await main();
