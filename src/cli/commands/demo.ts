import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { MAX_SEED, parseIntOption } from '../parseOptions.js';
import { ensureWritableDir } from '../../io/writableDir.js';
import { describeResult, interruptController } from './train.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'The whole fast feature-extraction workflow in a few minutes: a generated two-class dataset (or --data), the pretrained MobileNetV2 shipped in nsfwjs, training, evaluation and report.',
    )
    .option('--data <dir>', 'use this dataset (train/ validation/ test/ with class folders) instead of generating one')
    .option('--out <dir>', 'where to put the dataset, the run and the report', 'tlkit-demo')
    .option('--base <base>', 'conv base', 'nsfwjs')
    .option('--epochs <n>', 'epochs', '10')
    .option('--seed <n>', 'seed', '1337')
    .option('--images <n>', 'generated training images per class (validation and test get half as many)', '100')
    .action(async (o: { data?: string; out: string; base: string; epochs: string; seed: string; images: string }) => {
      const say = (l: string) => process.stderr.write(`${l}\n`);
      const t0 = performance.now();
      // Every option is checked before the minutes of work start.
      ensureWritableDir('--out', o.out, { keep: false });
      const n = parseIntOption('--images', o.images, { min: 2, example: '100' })!;
      const epochs = parseIntOption('--epochs', o.epochs, { min: 1, example: '10' });
      const seed = parseIntOption('--seed', o.seed, { min: 0, max: MAX_SEED, example: '1337' });
      const { resolveDataDir } = await import('../../data/splits.js');
      if (o.data) resolveDataDir(o.data);
      let data = o.data;
      if (!data) {
        data = path.join(o.out, 'data');
        const perClass = { train: n, validation: Math.max(1, Math.floor(n / 2)), test: Math.max(1, Math.floor(n / 2)) };
        if (!existsSync(path.join(data, 'test'))) {
          say(
            `Generating a two-class dataset (circles vs squares; ${2 * perClass.train}/${2 * perClass.validation}/${2 * perClass.test} train/validation/test images) in ${data} ...`,
          );
          const { generateShapesDataset } = await import('../../workflows/demoData.js');
          await generateShapesDataset(data, { seed: 42, perClass });
        } else say(`Using the dataset already generated in ${data}.`);
      }
      const run = path.join(o.out, 'run');
      const { train } = await import('../../workflows/train.js');
      const interrupt = interruptController(run);
      let result;
      try {
        result = await train(
          {
            data,
            base: o.base,
            mode: 'features',
            out: run,
            epochs,
            seed,
            cacheDir: path.join(o.out, 'features'),
            signal: interrupt.signal,
          },
          { naming: 'cli' },
        );
      } finally {
        interrupt.dispose();
      }
      process.stdout.write(`${describeResult(result, run)}\n\n`);
      if (result.bestEpoch < 0) return;
      if (resolveDataDir(data).splits.test) {
        const { evaluateRun } = await import('../../inference/evaluate.js');
        const { formatEvaluation } = await import('./evaluate.js');
        const evaluation = await evaluateRun(run, data);
        process.stdout.write(`${formatEvaluation(evaluation)}\n\n`);
      } else say(`${data} has no test/ split; skipping the evaluation.`);
      const { buildReport } = await import('./report.js');
      const report = await buildReport(run);
      process.stdout.write(`Report: ${path.resolve(report)}\n`);
      const { tlkitCommand } = await import('../invocation.js');
      process.stdout.write(
        `Done in ${((performance.now() - t0) / 1000).toFixed(0)} s. Next: ${tlkitCommand()} predict --model ${run} <image>\n`,
      );
    });
}
