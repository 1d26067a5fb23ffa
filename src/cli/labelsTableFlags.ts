import type { Command } from 'commander';
import type { LabelsTableOptions } from '../data/labelsTable.js';
import { UserError } from '../errors.js';

// The labels-table flags of the commands other than train (whose flags come from its option
// schema under the same names), declared here so that those commands start without loading it.

export interface LabelsTableFlags {
  labels?: string;
  labelDelim?: string;
  fileColumn?: string;
  labelColumn?: string;
  validColumn?: string;
}

/** --labels and its column flags; `labelsHelp` says what the table is for in this command. */
export function addLabelsTableFlags(cmd: Command, labelsHelp: string, opts: { valid?: boolean } = {}): Command {
  cmd
    .option('--labels <file>', `${labelsHelp} (CSV, TSV or JSON lines; file names relative to the data folder)`)
    .option('--label-delim <sep>', 'with --labels: the separator of several labels in one cell (fastai label_delim)')
    .option(
      '--file-column <name>',
      "with --labels: the table's file column (default: id, file, filename, path, image, image_name ... by header)",
    )
    .option(
      '--label-column <name>',
      "with --labels: the table's label column (default: label, labels, tags, class, category ... by header)",
    );
  if (opts.valid !== false)
    cmd.option('--valid-column <name>', 'with --labels: a true/false column marking the validation rows (default: is_valid when present)');
  return cmd;
}

/** The table options the flags give, or undefined without --labels (then the column flags are a mistake). */
export function labelsTableFromFlags(o: LabelsTableFlags): LabelsTableOptions | undefined {
  if (o.labels === undefined) {
    const stray = (
      [
        ['labelDelim', '--label-delim'],
        ['fileColumn', '--file-column'],
        ['labelColumn', '--label-column'],
        ['validColumn', '--valid-column'],
      ] as const
    ).find(([k]) => o[k] !== undefined);
    if (stray) throw new UserError(`${stray[1]} applies to a labels table: add --labels FILE, or drop ${stray[1]}.`);
    return undefined;
  }
  return { labels: o.labels, labelDelim: o.labelDelim, fileColumn: o.fileColumn, labelColumn: o.labelColumn, validColumn: o.validColumn };
}
