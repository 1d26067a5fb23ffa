import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parseIntOption } from '../parseOptions.js';

/**
 * Build <run>/report.html. The evaluation comes from --data when given, else from the
 * last `tlkit evaluate` (evaluation.json), else from the test/ split of the training data.
 */
export async function buildReport(
  runDir: string,
  opts: {
    data?: string;
    top?: number;
    base?: string;
    log?: (l: string) => void;
    /** Receives a multi-label evaluation's figures as text (the overall line and one row per label). */
    summary?: (text: string) => void;
  } = {},
): Promise<string> {
  const { readRun } = await import('../../run/runDir.js');
  const { readEvaluationFile } = await import('../../run/evaluation.js');
  const { runPaths } = await import('../../run/paths.js');
  const { evaluateRun } = await import('../../inference/evaluate.js');
  const { writeReport } = await import('../../report/htmlReport.js');
  const { resolveDataDir } = await import('../../data/splits.js');
  const { dataFacts, modelFacts, tableFacts } = await import('../../report/runFacts.js');
  const { labelsTableOptions } = await import('../../data/labelsTable.js');
  const { tlkitVersion } = await import('../../version.js');
  const { UserError } = await import('../../errors.js');
  const run = await readRun(runDir);
  // meta.data is absolute; runs from before it was recorded have only options.data, as typed (relative to where train ran).
  const recorded = run.meta.data ?? (typeof run.meta.options?.data === 'string' ? run.meta.options.data : undefined);
  let evaluation = opts.data ? null : ((await readEvaluationFile(runDir)) ?? null);
  let evaluationNote: string | undefined;
  const multiLabel = run.meta.labelMode === 'multi-label';
  if (!evaluation && multiLabel) {
    // Its true labels come from a table, and the training table has no test rows: evaluate names the table.
    const evaluate = `tlkit evaluate --model ${runDir} --data ${opts.data ?? 'DIR'} --labels FILE`;
    if (opts.data)
      throw new UserError(
        `${runDir} is a multi-label run: its images' true labels come from a table, which report does not take. Run \`${evaluate}\` (the table of ${opts.data}'s images and their labels), then \`tlkit report ${runDir}\`: it reads the evaluation.json that evaluate writes.`,
      );
    evaluationNote = `Not evaluated: a multi-label run is evaluated on a table of images and their labels. Run \`${evaluate}\`, then \`tlkit report ${runDir}\` again.`;
  } else if (!evaluation) {
    const data = opts.data ?? recorded;
    // --data given: evaluate on it, so that a wrong path is an error rather than a report without evaluation.
    if (data && (opts.data || (existsSync(data) && resolveDataDir(data).splits.test))) {
      opts.log?.(`Evaluating on ${data} ...`);
      evaluation = await evaluateRun(runDir, data, { base: opts.base });
    } else if (data && !existsSync(data)) {
      evaluationNote = `Not evaluated: the training data folder ${data} no longer exists${run.meta.data ? ' (moved or deleted)' : ` (recorded as typed when training, relative to that directory; this run predates absolute data paths)`}. Run \`tlkit report ${runDir} --data DIR\` with the labelled images where they are now.`;
    } else {
      evaluationNote = `Not evaluated: the training data (${data ?? 'unknown'}) has no test/ split. Run \`tlkit report ${runDir} --data DIR\` with labelled images.`;
    }
  }
  // A multi-label run's images are labelled by its table: the counts come from there (an image under each of its labels).
  const table = multiLabel ? labelsTableOptions(run.meta.options ?? {}) : undefined;
  const data = recorded
    ? table
      ? tableFacts(recorded, table, run.meta.classes)
      : dataFacts(recorded, run.meta.classes)
    : { note: 'This run does not record its data folder: no per-class counts.' };
  const model = modelFacts(runPaths(runDir).model);
  if (evaluation?.multiLabel) {
    const { multiLabelSummaryText } = await import('../../report/multiLabelReport.js');
    opts.summary?.(multiLabelSummaryText({ ...evaluation, multiLabel: evaluation.multiLabel }));
  }
  return writeReport(runPaths(runDir).report, {
    runDir,
    meta: run.meta,
    history: run.history,
    evaluation,
    evaluationNote,
    topWrong: opts.top,
    model,
    data,
    version: tlkitVersion(),
  });
}

export function register(program: Command): void {
  program
    .command('report')
    .description(
      'Write <run dir>/report.html: configuration (head, augmentation, model size, tlkit version), images per class, curves, confusion matrix, per-class precision/recall/F1/support, the most confidently wrong images, the top losses per class, timings (one self-contained file). A multi-label run gets mAP, micro/macro F1, exact match, Hamming loss, per-label AP and thresholds, precision-recall curves (also as PNG and SVG in <run dir>/pr-curves/) and the top losses per label, and its figures are printed.',
    )
    .argument('<run dir>', 'the --out folder of tlkit train')
    .option(
      '--data <dir>',
      'labelled images to evaluate on (default: the last `tlkit evaluate`, else the test/ split of the training data)',
    )
    .option('--top <n>', 'how many confidently wrong images to show', '12')
    .option('--base <model.onnx>', 'a run trained on an ONNX base: where that file is now, if it moved (for the evaluation)')
    .action(async (runDir: string, o: { data?: string; top: string; base?: string }) => {
      const file = await buildReport(runDir, {
        data: o.data,
        top: parseIntOption('--top', o.top, { min: 0, example: '12' }),
        base: o.base,
        log: (l) => process.stderr.write(`${l}\n`),
        summary: (text) => process.stdout.write(`${text}\n`),
      });
      process.stdout.write(`Report: ${path.resolve(file)}\n`);
    });
}
