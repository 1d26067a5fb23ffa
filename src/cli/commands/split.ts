import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { formatSplitResult, LINK_MODES, splitDataset, type LinkMode } from '../../data/split.js';
import { addLabelsTableFlags, labelsTableFromFlags, type LabelsTableFlags } from '../labelsTableFlags.js';
import { MAX_SEED, parseIntOption, parseNumberOption } from '../parseOptions.js';

/** An amount per class: a whole count, or a fraction in (0, 1). */
function parseAmount(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = parseNumberOption(flag, text, { min: 0, minInclusive: true, example: '0.2' })!;
  if (v >= 1 && !Number.isInteger(v))
    throw new UserError(`${flag} must be a whole count of images per class (e.g. 1000) or a fraction below 1 (e.g. 0.2), got ${text}.`);
  return v;
}

/** `tlkit split SRC --out DIR`: the book's train/validation/test layout from class folders or one flat folder. */
export function register(program: Command): void {
  addLabelsTableFlags(program.command('split'), 'classes from a table over <src> (one label a row) instead of class folders', {
    valid: false,
  })
    .description(
      "Make the book's layout (train/, validation/, test/, one folder per class) from class folders, or from one flat folder with --label-from-name. The source is never moved or changed.",
    )
    .argument('<src>', 'class folders, or one flat folder of images (with --label-from-name)')
    .requiredOption('--out <dir>', 'new folder to create (must not exist or be empty, not inside <src>)')
    .option('--train <n|f>', 'training images per class: a count, or a fraction (default: the rest)')
    .option('--validation <n|f>', 'validation images per class (default 0.1 when neither --validation nor --test is given)')
    .option('--test <n|f>', 'test images per class (default 0.1 when neither --validation nor --test is given)')
    .option('--seed <n>', 'shuffle seed: the same seed gives the same split', '1337')
    .option('--link <mode>', `how files get into --out: ${LINK_MODES.join(', ')}`, 'copy')
    .option('--label-from-name <regex>', "class from each file name: the first capture group, e.g. '^(cat|dog)\\.' for cat.123.jpg")
    .action(
      (
        src: string,
        o: {
          out: string;
          train?: string;
          validation?: string;
          test?: string;
          seed: string;
          link: string;
          labelFromName?: string;
        } & LabelsTableFlags,
      ) => {
        if (!(LINK_MODES as readonly string[]).includes(o.link))
          throw new UserError(`--link must be one of ${LINK_MODES.join(', ')}, got '${o.link}'.`);
        const result = splitDataset(src, {
          out: o.out,
          train: parseAmount('--train', o.train),
          validation: parseAmount('--validation', o.validation),
          test: parseAmount('--test', o.test),
          seed: parseIntOption('--seed', o.seed, { min: 0, max: MAX_SEED, example: '1337' }),
          link: o.link as LinkMode,
          labelFromName: o.labelFromName,
          table: labelsTableFromFlags(o),
        });
        process.stdout.write(`${formatSplitResult(result, o.link as LinkMode)}\n`);
      },
    );
}
