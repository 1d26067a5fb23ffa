import type { Command } from 'commander';
import { parseIntOption, parseNumberOption } from '../parseOptions.js';
import { checkDataset, formatCheckReport } from '../../data/checkData.js';

/** `tlkit check-data <dir> [--json]`: scan a dataset; exit 0 when clean, 2 with the list of problems. */
export function register(program: Command): void {
  program
    .command('check-data')
    .description('Scan a dataset: counts per split and class, corrupt/empty/mislabelled files, tiny images, duplicates across splits, class imbalance. Exit 0 when clean, 2 when not.')
    .argument('<dir>', 'data folder: train/, validation/, test/ with class folders, or class folders directly')
    .option('--json', 'print the report as one JSON object')
    .option('--min-size <px>', 'flag images with a side shorter than this', '32')
    .option('--max-imbalance <ratio>', 'flag a split whose largest class exceeds its smallest by more than this factor', '1.5')
    .action(async (dir: string, o: { json?: boolean; minSize: string; maxImbalance: string }) => {
      const minSize = parseIntOption('--min-size', o.minSize, { min: 1, example: '32' })!;
      const maxImbalance = parseNumberOption('--max-imbalance', o.maxImbalance, { min: 1, minInclusive: true, example: '1.5' })!;
      const showProgress = !o.json && process.stderr.isTTY;
      const report = await checkDataset(dir, {
        minSize,
        maxImbalance,
        onProgress: showProgress
          ? (done, total) => {
              if (done % 100 === 0 || done === total) process.stderr.write(`\rchecking images: ${done}/${total}${done === total ? '\n' : ''}`);
            }
          : undefined,
      });
      process.stdout.write((o.json ? JSON.stringify(report) : formatCheckReport(report)) + '\n');
      if (!report.ok) process.exitCode = 2;
    });
}
