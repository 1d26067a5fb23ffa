import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { addLabelsTableFlags, labelsTableFromFlags, type LabelsTableFlags } from '../labelsTableFlags.js';
import { parseIntOption, parseNumberOption } from '../parseOptions.js';
import { checkDataset, formatCheckReport } from '../../data/checkData.js';

/** `tlkit check-data <dir> [--json] [--strict]`: scan a dataset; exit 2 on errors (on any finding with --strict), else 0. */
export function register(program: Command): void {
  addLabelsTableFlags(
    program.command('check-data'),
    'labels from a table instead of class folders: rows without a file, images without a row, empty, unknown or once-used labels, duplicate rows, each with its line',
  )
    .summary(
      'Scan a dataset: counts, corrupt and mislabelled files, duplicates across splits, imbalance. Exit 2 on errors (on warnings too with --strict).',
    )
    .description(
      'Scan a dataset: counts per split and class, corrupt/empty/mislabelled files, tiny images, duplicates across splits, class imbalance. ' +
        'Each finding is an error (corrupt, empty or non-image files named as images, duplicates across splits, empty or missing classes: ' +
        'training stops on them or its accuracy misleads) or a warning (hidden and AppleDouble ._ files, ignored files, wrong extensions, symlinks, tiny images, imbalance). ' +
        'Exit 2 when there are errors (with --strict, any finding), else 0.',
    )
    .argument('<dir>', 'data folder: train/, validation/, test/ with class folders, or class folders directly')
    .option('--classes <names>', 'with --labels: the expected classes, comma-separated (any other label is an error)')
    .option('--json', 'print the report as one JSON object (each problem has a severity: "error" or "warning")')
    .option('--strict', 'exit 2 on warnings too')
    .option('--min-size <px>', 'flag images with a side shorter than this', '32')
    .option('--max-imbalance <ratio>', 'flag a split whose largest class exceeds its smallest by more than this factor', '1.5')
    .action(
      async (
        dir: string,
        o: { json?: boolean; strict?: boolean; minSize: string; maxImbalance: string; classes?: string } & LabelsTableFlags,
      ) => {
        const table = labelsTableFromFlags(o);
        if (o.classes !== undefined && !table)
          throw new UserError('--classes applies to a labels table: add --labels FILE, or drop --classes.');
        const classes = o.classes
          ?.split(',')
          .map((c) => c.trim())
          .filter((c) => c !== '');
        const minSize = parseIntOption('--min-size', o.minSize, { min: 1, example: '32' })!;
        const maxImbalance = parseNumberOption('--max-imbalance', o.maxImbalance, { min: 1, minInclusive: true, example: '1.5' })!;
        const showProgress = !o.json && process.stderr.isTTY;
        const report = await checkDataset(dir, {
          table,
          classes,
          minSize,
          maxImbalance,
          onProgress: showProgress
            ? (done, total) => {
                if (done % 100 === 0 || done === total)
                  process.stderr.write(`\rchecking images: ${done}/${total}${done === total ? '\n' : ''}`);
              }
            : undefined,
        });
        process.stdout.write((o.json ? JSON.stringify(report) : formatCheckReport(report)) + '\n');
        if (report.errors > 0 || (o.strict && !report.ok)) process.exitCode = 2;
      },
    );
}
