import path from 'node:path';
import { Option, type Command } from 'commander';
import { UserError } from '../../errors.js';
import { LR_SWEEP_OPTIONS, type LrSweepOptions } from '../../workflows/lrFindOptions.js';
import type { LrFindResult } from '../../workflows/lrFind.js';
import { TRAIN_OPTIONS } from '../../workflows/options.js';
import { optionFlag, toTrainOptions, type TrainArgs } from './train.js';

/**
 * Train's options that say how long a run lasts, what it records and how its rate moves:
 * accepted (a train command line works here) and unused, the sweep sets the rate itself.
 */
const UNUSED = [
  'out',
  'epochs',
  'earlyStoppingPatience',
  'calibration',
  'learningRate',
  'schedule',
  'warmup',
  'div',
  'finalDiv',
  'pctStart',
];

/** The sweep's values from the command line, parsed by their declaration. */
function sweepOptions(a: TrainArgs): LrSweepOptions {
  const out: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(LR_SWEEP_OPTIONS)) {
    const raw = a[key];
    if (typeof raw !== 'string') {
      out[key] = raw;
      continue;
    }
    const v = o.kind.fromText(raw);
    if (v === undefined || !o.kind.zod.safeParse(v).success)
      throw new UserError(`${o.flag} must be ${o.kind.expect}, got '${raw}'. Pass e.g. ${o.flag} ${o.default}.`);
    out[key] = v;
  }
  return out as unknown as LrSweepOptions;
}

/** JSON has no NaN: a diverged loss is null. */
const finite = (v: number) => (Number.isFinite(v) ? v : null);

/** What `--json` prints: the curve, the suggested rates (null when none), the plot files. */
function lrFindJson(r: LrFindResult): Record<string, unknown> {
  const s = r.suggestions;
  return {
    rates: r.rates,
    losses: r.losses.map(finite),
    suggestions: s ? { valley: s.valley.rate, steep: s.steep.rate, minimum: s.minimum.rate } : null,
    plot: r.plot ?? null,
    ended: r.ended,
    what: r.what,
    sweepSeconds: r.sweepSeconds,
    seconds: r.seconds,
  };
}

const ENDED: Record<LrFindResult['ended'], string> = {
  steps: 'all its steps done',
  diverged: 'stopped where the smoothed loss passed 4x its minimum',
  nan: 'stopped at a NaN loss',
  interrupted: 'interrupted',
};

/** The human summary: the suggestions, which to use, where the plot is. */
function describeLrFind(r: LrFindResult, fmt: (rate: number) => string): string {
  const lines = [
    `${r.what}: ${r.rates.length} batches in ${r.sweepSeconds.toFixed(1)} s (${ENDED[r.ended]}; ${r.seconds.toFixed(1)} s in all, loading and features included).`,
  ];
  const s = r.suggestions;
  if (s) {
    lines.push(
      "Suggested learning rates (fastai's):",
      `  valley      ${fmt(s.valley.rate)}`,
      `  steep       ${fmt(s.steep.rate)}`,
      `  minimum/10  ${fmt(s.minimum.rate)}`,
      `Use valley (--learning-rate ${fmt(s.valley.rate)}): fastai's default pick, well inside the longest stretch where the loss falls; steep and minimum/10 are other readings of the same curve (the plot marks all three).`,
    );
  } else if (r.ended !== 'interrupted') {
    lines.push(
      'No suggestion: the loss diverged before the sweep had enough points (the first tenth of the steps and the last 5 are left out). Start lower (e.g. --start 1e-9), or pass --no-stop-div.',
    );
  }
  if (r.plot) lines.push(`Plot: ${r.plot.png} (and ${path.basename(r.plot.svg)} beside it)`);
  return lines.join('\n');
}

export function register(program: Command): void {
  const command = program
    .command('lr-find')
    .description(
      "Find a learning rate (fastai's lr_find): train what `tlkit train` would train with the same options for a few batches while the learning rate grows exponentially, plot the smoothed loss against it and suggest a rate. Writes nothing into any run folder.",
    );
  for (const o of TRAIN_OPTIONS) {
    if (o.id === 'resume') continue;
    const flag = optionFlag(o);
    if (UNUSED.includes(o.id)) {
      flag.makeOptionMandatory(false);
      flag.description = `accepted and unused by lr-find: ${flag.description}`;
    }
    command.addOption(flag);
  }
  for (const o of Object.values(LR_SWEEP_OPTIONS)) {
    const valueless = o.kind.name === 'switch';
    const flag = new Option(valueless ? o.flag : `${o.flag} <${o.kind.arg}>`, o.help);
    if (!valueless) flag.default(String(o.default));
    command.addOption(flag);
  }
  command
    .option('--plot-dir <dir>', 'where to write lr-find.png and lr-find.svg (default: the current folder)')
    .option(
      '--json',
      'print {rates, losses, suggestions: {valley, steep, minimum}, plot: {png, svg}, ended, what, sweepSeconds, seconds} on stdout',
    )
    .action(async (a: TrainArgs, cmd: Command) => {
      const sweep = sweepOptions(a);
      const options = toTrainOptions(a, cmd);
      // --json keeps the progress lines: they go to stderr.
      if (a.json && a.quiet !== true) options.verbose = 1;
      const { lrFind, fmtRate } = await import('../../workflows/lrFind.js');
      const controller = new AbortController();
      const onSigint = () => {
        if (controller.signal.aborted) process.exit(130);
        controller.abort();
        process.stderr.write('\ntlkit: interrupted; stopping after the current batch (Ctrl-C again to quit now).\n');
      };
      process.on('SIGINT', onSigint);
      try {
        const plotDir = typeof a.plotDir === 'string' ? a.plotDir : process.cwd();
        const result = await lrFind({ ...options, ...sweep, plotDir, signal: controller.signal }, { naming: 'cli' });
        if (a.json) process.stdout.write(`${JSON.stringify(lrFindJson(result))}\n`);
        else process.stdout.write(`${describeLrFind(result, fmtRate)}\n`);
        if (result.ended === 'interrupted') {
          process.stderr.write(
            `tlkit: lr-find stopped after ${result.rates.length} batches: no suggestion and no plot; nothing was written.\n`,
          );
          process.exitCode = 130;
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
