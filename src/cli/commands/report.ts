import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parseIntOption } from '../parseOptions.js';

/**
 * Build <run>/report.html. The evaluation comes from --data when given, else from the
 * last `tlkit evaluate` (evaluation.json), else from the test/ split of the training data.
 */
export async function buildReport(runDir: string, opts: { data?: string; top?: number; log?: (l: string) => void } = {}): Promise<string> {
  const { readRun } = await import('../../run/runDir.js');
  const { readEvaluationFile } = await import('../../run/evaluation.js');
  const { runPaths } = await import('../../run/paths.js');
  const { evaluateRun } = await import('../../inference/evaluate.js');
  const { writeReport } = await import('../../report/htmlReport.js');
  const { resolveDataDir } = await import('../../data/splits.js');
  const run = await readRun(runDir);
  let evaluation = opts.data ? null : ((await readEvaluationFile(runDir)) ?? null);
  let evaluationNote: string | undefined;
  if (!evaluation) {
    const data = opts.data ?? run.meta.data ?? (typeof run.meta.options?.data === 'string' ? run.meta.options.data : undefined);
    // --data given: evaluate on it, so that a wrong path is an error rather than a report without evaluation.
    if (data && (opts.data || (existsSync(data) && resolveDataDir(data).splits.test))) {
      opts.log?.(`Evaluating on ${data} ...`);
      evaluation = await evaluateRun(runDir, data);
    } else {
      evaluationNote = `Not evaluated: the training data (${data ?? 'unknown'}) has no test/ split here. Run \`tlkit report ${runDir} --data DIR\` with labelled images.`;
    }
  }
  return writeReport(runPaths(runDir).report, { runDir, meta: run.meta, history: run.history, evaluation, evaluationNote, topWrong: opts.top });
}

export function register(program: Command): void {
  program
    .command('report')
    .description('Write <run dir>/report.html: configuration, curves, confusion matrix, the most confidently wrong images, timings (one self-contained file).')
    .argument('<run dir>', 'the --out folder of tlkit train')
    .option('--data <dir>', 'labelled images to evaluate on (default: the last `tlkit evaluate`, else the test/ split of the training data)')
    .option('--top <n>', 'how many confidently wrong images to show', '12')
    .action(async (runDir: string, o: { data?: string; top: string }) => {
      const file = await buildReport(runDir, { data: o.data, top: parseIntOption('--top', o.top, { min: 0, example: '12' }), log: (l) => process.stderr.write(`${l}\n`) });
      process.stdout.write(`Report: ${path.resolve(file)}\n`);
    });
}
