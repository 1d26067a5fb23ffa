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
  opts: { data?: string; top?: number; base?: string; log?: (l: string) => void } = {},
): Promise<string> {
  const { readRun } = await import('../../run/runDir.js');
  const { readEvaluationFile } = await import('../../run/evaluation.js');
  const { runPaths } = await import('../../run/paths.js');
  const { evaluateRun } = await import('../../inference/evaluate.js');
  const { writeReport } = await import('../../report/htmlReport.js');
  const { resolveDataDir } = await import('../../data/splits.js');
  const { dataFacts, modelFacts } = await import('../../report/runFacts.js');
  const { tlkitVersion } = await import('../../version.js');
  const run = await readRun(runDir);
  // meta.data is absolute; runs from before it was recorded have only options.data, as typed (relative to where train ran).
  const recorded = run.meta.data ?? (typeof run.meta.options?.data === 'string' ? run.meta.options.data : undefined);
  let evaluation = opts.data ? null : ((await readEvaluationFile(runDir)) ?? null);
  let evaluationNote: string | undefined;
  if (!evaluation) {
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
  const data = recorded
    ? dataFacts(recorded, run.meta.classes)
    : { note: 'This run does not record its data folder: no per-class counts.' };
  const model = modelFacts(runPaths(runDir).model);
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
      'Write <run dir>/report.html: configuration (head, augmentation, model size, tlkit version), images per class, curves, confusion matrix, per-class precision/recall/F1/support, the most confidently wrong images, the top losses per class, timings (one self-contained file).',
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
      });
      process.stdout.write(`Report: ${path.resolve(file)}\n`);
    });
}
