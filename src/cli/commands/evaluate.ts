import type { Command } from 'commander';
import type { RunEvaluation } from '../../run/evaluation.js';
import type { MultiLabelMetrics } from '../../run/multiLabelMetrics.js';
import { addLabelsTableFlags, labelsTableFromFlags, type LabelsTableFlags } from '../labelsTableFlags.js';
import { parseIntOption, parsePrecisionOption, parseTtaOption } from '../parseOptions.js';

/** Progress on stderr, only when a person watches it (a terminal): "evaluating: 320/1000 images". */
function stderrProgress(what: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (done, total) => process.stderr.write(`\r${what}: ${done}/${total} images${done === total ? '\n' : ''}`);
}

/** The TTA lines: how the views were made, then each figure beside the plain prediction's. */
function ttaLines(e: RunEvaluation): string[] {
  const t = e.tta;
  if (!t) return [`accuracy: ${e.accuracy.toFixed(4)}`, `loss:     ${e.loss.toFixed(4)}`];
  const a = t.augmentation;
  const made = [
    a.flip !== 'none' ? `${a.flip} flips` : '',
    a.rotation > 0 ? `rotation ${a.rotation}` : '',
    a.zoom > 0 ? `zoom ${a.zoom}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const gain = e.accuracy - t.plain.accuracy;
  return [
    `Test-time augmentation: each image and ${t.views} view${t.views === 1 ? '' : 's'} of it (${made}, seed ${t.seed}), probabilities blended as fastai does: ${1 - t.beta} x the views' mean + ${t.beta} x the plain image's`,
    `accuracy: ${e.accuracy.toFixed(4)} with TTA, ${t.plain.accuracy.toFixed(4)} plain (${gain >= 0 ? '+' : ''}${gain.toFixed(4)})`,
    `loss:     ${e.loss.toFixed(4)} with TTA, ${t.plain.loss.toFixed(4)} plain`,
  ];
}

/** A multi-label run's text report: mAP, micro/macro F1, exact match, Hamming loss, then a row per class. */
function formatMultiLabel(e: RunEvaluation, m: MultiLabelMetrics): string {
  const w = Math.max(10, ...e.classes.map((c) => c.length + 2));
  const t = e.tta;
  const plain = (now: number, before: number | undefined) =>
    t && before !== undefined ? ` with TTA, ${before.toFixed(4)} plain (${now - before >= 0 ? '+' : ''}${(now - before).toFixed(4)})` : '';
  const lines = [
    `Evaluated ${e.n} images from ${e.dir} (${e.imagesPerSecond.toFixed(1)} images/s on ONNX Runtime, ${e.basePrecision ?? 'fp32'})`,
    `Multi-label: ${e.classes.length} classes, each label given when its probability is >= its threshold`,
    ...(t
      ? [
          `Test-time augmentation: each image and ${t.views} view${t.views === 1 ? '' : 's'} of it (seed ${t.seed}), probabilities blended as fastai does`,
        ]
      : []),
    `mAP:          ${m.meanAveragePrecision.toFixed(4)}${plain(m.meanAveragePrecision, t?.plain.meanAveragePrecision)}`,
    `micro F1:     ${m.microF1.toFixed(4)}`,
    `macro F1:     ${m.macroF1.toFixed(4)}`,
    `exact match:  ${m.exactMatch.toFixed(4)}${plain(m.exactMatch, t?.plain.accuracy)}`,
    `Hamming loss: ${m.hammingLoss.toFixed(4)}`,
    `loss:         ${e.loss.toFixed(4)} (binary cross-entropy)${t ? `, ${t.plain.loss.toFixed(4)} plain` : ''}`,
    '',
    `${'class'.padEnd(w)}${'precision'.padStart(11)}${'recall'.padStart(9)}${'f1'.padStart(9)}${'AP'.padStart(9)}${'support'.padStart(9)}${'threshold'.padStart(11)}`,
    ...m.perClass.map(
      (c) =>
        `${c.name.padEnd(w)}${c.precision.toFixed(4).padStart(11)}${c.recall.toFixed(4).padStart(9)}${c.f1.toFixed(4).padStart(9)}${c.averagePrecision.toFixed(4).padStart(9)}${String(c.support).padStart(9)}${c.threshold.toFixed(4).padStart(11)}`,
    ),
  ];
  return lines.join('\n');
}

/** What --json prints: the headline figures, then a multi-label run's whole record or a single-label run's confusion and ECE. */
export function evaluationJson(e: RunEvaluation): Record<string, unknown> {
  const perClass = { precision: e.precision, recall: e.recall, f1: e.f1, support: e.support };
  if (e.multiLabel)
    return {
      accuracy: e.accuracy,
      loss: e.loss,
      n: e.n,
      classes: e.classes,
      ...perClass,
      multiLabel: e.multiLabel,
      ...(e.tta ? { tta: e.tta } : {}),
    };
  return {
    accuracy: e.accuracy,
    loss: e.loss,
    n: e.n,
    classes: e.classes,
    confusion: e.confusion,
    ...perClass,
    ece: e.ece,
    ...(e.temperature !== undefined ? { temperature: e.temperature, eceUncalibrated: e.eceUncalibrated } : {}),
    ...(e.tta ? { tta: e.tta } : {}),
  };
}

/** The text report: accuracy, loss, confusion matrix, per-class precision, recall, F1 and support (multi-label: see formatMultiLabel). */
export function formatEvaluation(e: RunEvaluation): string {
  if (e.multiLabel) return formatMultiLabel(e, e.multiLabel);
  const w = Math.max(10, ...e.classes.map((c) => c.length + 2));
  const lines = [
    `Evaluated ${e.n} images from ${e.dir} (${e.imagesPerSecond.toFixed(1)} images/s on ONNX Runtime, ${e.basePrecision ?? 'fp32'})`,
    ...ttaLines(e),
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

/**
 * Without --data: the data folder the run records (meta.json), when it has a test/ split;
 * its other images trained the model, and would overstate its accuracy. Says which it used.
 */
async function recordedTestData(runDir: string): Promise<string> {
  const { existsSync } = await import('node:fs');
  const path = await import('node:path');
  const { UserError } = await import('../../errors.js');
  const { readRun } = await import('../../run/runDir.js');
  const { resolveDataDir } = await import('../../data/splits.js');
  const { meta } = await readRun(runDir);
  // meta.data is absolute; runs from before it was recorded have only options.data, as typed.
  const recorded = meta.data ?? (typeof meta.options?.data === 'string' ? meta.options.data : undefined);
  const pass = 'Pass --data DIR with labelled images the model was not trained on (a test/ split, or class folders).';
  if (!recorded) throw new UserError(`--data is needed: ${runDir} does not record the data folder it was trained on. ${pass}`);
  if (!existsSync(recorded)) throw new UserError(`--data is needed: ${runDir} was trained on ${recorded}, which no longer exists. ${pass}`);
  if (!resolveDataDir(recorded).splits.test) {
    throw new UserError(
      `--data is needed: ${recorded}, the data folder ${runDir} was trained on, has no test/ split, and its other images trained the model. ${pass}`,
    );
  }
  process.stderr.write(
    `tlkit: evaluating on ${path.join(recorded, 'test')}, the test split of the data folder the run was trained on (--data DIR for other images).\n`,
  );
  return recorded;
}

export function register(program: Command): void {
  addLabelsTableFlags(
    program.command('evaluate'),
    "labels from a table over --data instead of class folders: every row is evaluated (a multi-label run needs it; --label-delim defaults to the run's own)",
    {
      valid: false,
    },
  )
    .description(
      "Evaluate a trained run on labelled images (the test/ split, or class folders; a multi-label run: a --labels table), with the run's own preprocessing and image size, on ONNX Runtime.",
    )
    .requiredOption('--model <run dir>', 'the --out folder of tlkit train')
    .option(
      '--data <dir>',
      'data folder: test/ of the book layout is used, or class folders directly (default: the test/ split of the data folder the run was trained on)',
    )
    .option('--batch-size <n>', 'images per ONNX Runtime call', '16')
    .option(
      '--json',
      'print one JSON object: accuracy, loss, n, classes, confusion, then per class (in class order) precision, recall, f1, support; then ece (15 bins), and temperature and eceUncalibrated when the run was calibrated. A multi-label run: accuracy (exact match), loss (binary cross-entropy), n, classes, precision, recall, f1, support, then multiLabel {perClass, meanAveragePrecision, microF1, macroF1, exactMatch, hammingLoss, thresholds}',
    )
    .option('--skip-bad-images', 'leave out images that cannot be decoded, with a warning each (n counts the images evaluated)')
    .option(
      '--tta [views]',
      "test-time augmentation (fastai's): each image's probabilities blended with those of N augmented views (flips and the run's training augmentation; default 4). The figures are the blend's; --json adds tta: {views, beta, seed, augmentation, plain: {accuracy, loss, ece}}",
    )
    .option('--base <model.onnx>', "a run trained on an ONNX base: where that file is now, if it moved (its sha256 must match the run's)")
    .option(
      '--precision <p>',
      "fp32 | int8: the base on ONNX Runtime (default: the run's own; int8 needs a run trained with --precision int8)",
    )
    .action(
      async (
        o: {
          model: string;
          data?: string;
          batchSize: string;
          json?: boolean;
          skipBadImages?: boolean;
          base?: string;
          precision?: string;
          tta?: string | boolean;
        } & LabelsTableFlags,
      ) => {
        const batchSize = parseIntOption('--batch-size', o.batchSize, { min: 1, example: '16' });
        const precision = parsePrecisionOption(o.precision);
        const tta = parseTtaOption(o.tta);
        const { evaluateRun } = await import('../../inference/evaluate.js');
        const table = labelsTableFromFlags(o);
        const { UserError } = await import('../../errors.js');
        if (table && o.data === undefined) {
          throw new UserError('--labels needs --data DIR: the folder the file names of the table are relative to.');
        }
        if (!table) {
          const { readRun } = await import('../../run/runDir.js');
          const { meta } = await readRun(o.model);
          if (meta.labelMode === 'multi-label')
            throw new UserError(
              `${o.model} is a multi-label run (classes ${meta.classes.join(', ')}): class folders give one label an image, so evaluate needs the true labels from a table. Pass --labels FILE --data DIR (and --label-delim as in training).`,
            );
        }
        const data = o.data ?? (await recordedTestData(o.model));
        const e = await evaluateRun(o.model, data, {
          batchSize,
          skipBadImages: Boolean(o.skipBadImages),
          base: o.base,
          precision,
          tta,
          table,
          onProgress: stderrProgress(tta ? `evaluating with ${tta} TTA views` : 'evaluating'),
        });
        const left = e.skipped?.length ?? 0;
        if (left) process.stderr.write(`tlkit: ${left} unreadable image${left > 1 ? 's' : ''} left out; evaluated ${e.n}.\n`);
        if (o.json) {
          process.stdout.write(`${JSON.stringify(evaluationJson(e))}\n`);
        } else {
          process.stdout.write(`${formatEvaluation(e)}\n`);
        }
      },
    );
}
