import type { Command } from 'commander';
import type { RunEvaluation } from '../../run/evaluation.js';
import { parseIntOption, parsePrecisionOption } from '../parseOptions.js';

/** The text report: accuracy, loss, confusion matrix, per-class precision, recall, F1 and support. */
export function formatEvaluation(e: RunEvaluation): string {
  const w = Math.max(10, ...e.classes.map((c) => c.length + 2));
  const lines = [
    `Evaluated ${e.n} images from ${e.dir} (${e.imagesPerSecond.toFixed(1)} images/s on ONNX Runtime, ${e.basePrecision ?? 'fp32'})`,
    `accuracy: ${e.accuracy.toFixed(4)}`,
    `loss:     ${e.loss.toFixed(4)}`,
    '',
    'Confusion matrix (rows: true class, columns: predicted):',
    `${''.padEnd(w)}${e.classes.map((c) => c.padStart(w)).join('')}`,
    ...e.confusion.map((row, i) => `${e.classes[i].padEnd(w)}${row.map((v) => String(v).padStart(w)).join('')}`),
    '',
    `${'class'.padEnd(w)}${'precision'.padStart(11)}${'recall'.padStart(9)}${'f1'.padStart(9)}${'support'.padStart(9)}`,
    ...e.classes.map(
      (c, i) =>
        `${c.padEnd(w)}${e.precision[i].toFixed(4).padStart(11)}${e.recall[i].toFixed(4).padStart(9)}${e.f1[i].toFixed(4).padStart(9)}${String(e.support[i]).padStart(9)}`,
    ),
  ];
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('evaluate')
    .description(
      "Evaluate a trained run on labelled images (the test/ split, or class folders), with the run's own preprocessing and image size, on ONNX Runtime.",
    )
    .requiredOption('--model <run dir>', 'the --out folder of tlkit train')
    .requiredOption('--data <dir>', 'data folder: test/ of the book layout is used, or class folders directly')
    .option('--batch-size <n>', 'images per ONNX Runtime call', '16')
    .option(
      '--json',
      'print one JSON object: accuracy, loss, n, classes, confusion, then per class (in class order) precision, recall, f1, support',
    )
    .option('--skip-bad-images', 'leave out images that cannot be decoded, with a warning each (n counts the images evaluated)')
    .option('--base <model.onnx>', "a run trained on an ONNX base: where that file is now, if it moved (its sha256 must match the run's)")
    .option(
      '--precision <p>',
      "fp32 | int8: the base on ONNX Runtime (default: the run's own; int8 needs a run trained with --precision int8)",
    )
    .action(
      async (o: {
        model: string;
        data: string;
        batchSize: string;
        json?: boolean;
        skipBadImages?: boolean;
        base?: string;
        precision?: string;
      }) => {
        const batchSize = parseIntOption('--batch-size', o.batchSize, { min: 1, example: '16' });
        const precision = parsePrecisionOption(o.precision);
        const { evaluateRun } = await import('../../inference/evaluate.js');
        const e = await evaluateRun(o.model, o.data, { batchSize, skipBadImages: Boolean(o.skipBadImages), base: o.base, precision });
        const left = e.skipped?.length ?? 0;
        if (left) process.stderr.write(`tlkit: ${left} unreadable image${left > 1 ? 's' : ''} left out; evaluated ${e.n}.\n`);
        if (o.json) {
          process.stdout.write(
            `${JSON.stringify({ accuracy: e.accuracy, loss: e.loss, n: e.n, classes: e.classes, confusion: e.confusion, precision: e.precision, recall: e.recall, f1: e.f1, support: e.support })}\n`,
          );
        } else {
          process.stdout.write(`${formatEvaluation(e)}\n`);
        }
      },
    );
}
