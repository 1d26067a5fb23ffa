import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { parseIntOption } from '../parseOptions.js';

interface ReviewArgs {
  data?: string;
  json?: boolean;
  perClass: string;
  uncertain: string;
  outliers: string;
  map?: string;
  checkData: boolean;
  apply?: string;
  undo?: string | boolean;
  relabel?: string;
  to?: string;
  quarantine?: string;
  check?: string;
  note?: string;
}

/**
 * `tlkit review RUN [--data DIR]`: the images to look at first (top losses per class, uncertain
 * predictions, check-data's findings, the map's outliers), and the actions on them, each one
 * atomic and written to the data folder's journal: --relabel FILE --to CLASS, --quarantine FILE,
 * --check FILE, --undo [ID], --apply JOURNAL.
 */
export function register(program: Command): void {
  program
    .command('review')
    .summary('The images to look at first after a run, and relabel / quarantine / check / undo / apply, journaled in the data folder.')
    .description(
      "List the images most worth a look after training: per class the top losses (over every split, the training images too), the run's most uncertain answers, " +
        "check-data's duplicates across splits and tiny images, and a dataset map's outliers (tlkit map). Act on one: --relabel FILE --to CLASS moves it to that " +
        'class folder (a labels-table run: rewrites its row), --quarantine FILE moves it to DATA/_quarantine/, --check FILE marks it looked at. ' +
        'Every action is atomic and appended to DATA/.tlkit-review.jsonl; --undo reverses the last one (or --undo ID), --apply JOURNAL replays ' +
        "another copy's journal (idempotent). Nothing is ever deleted. See docs/review.md.",
    )
    .argument('<run>', 'run folder (tlkit train --out)')
    .option('--data <dir>', 'the data folder (default: the one the run was trained on)')
    .option('--json', 'print the queue, or what an action did, as JSON')
    .option('--per-class <n>', 'top losses listed a class', '8')
    .option('--uncertain <n>', 'most uncertain predictions listed', '8')
    .option('--outliers <n>', "the map's outliers listed (those with an outlier score of at least 0.5)", '8')
    .option('--map <file>', 'a map.json of this data folder (tlkit map); default RUN/map/map.json or RUN/map.json when there')
    .option('--no-check-data', "leave out check-data's findings (it reads every image)")
    .option('--relabel <file>', 'move FILE (relative to the data folder) to the class --to')
    .option('--to <class>', 'with --relabel: the new class')
    .option('--quarantine <file>', 'move FILE into DATA/_quarantine/ (out of the dataset; undo brings it back)')
    .option('--check <file>', 'mark FILE as looked at: it leaves the queue while its bytes stay the same')
    .option('--note <text>', 'with an action: a note kept in the journal')
    .option('--undo [id]', 'reverse the last action (or the action ID of the journal)')
    .option('--apply <journal>', "replay another copy's journal here; actions already done are left as they are")
    .action(async (run: string, o: ReviewArgs) => {
      const [{ readMeta }, { ReviewStore }, { runTable }, { reviewQueue, formatQueue }] = await Promise.all([
        import('../../run/meta.js'),
        import('../../review/actions.js'),
        import('../../review/scores.js'),
        import('../../review/queue.js'),
      ]);
      const meta = await readMeta(run);
      const data = o.data ?? meta.data;
      if (!data) throw new UserError(`The run ${run} does not record its data folder: pass --data DIR.`);
      const root = path.resolve(data);
      const actions = [o.relabel, o.quarantine, o.check, o.undo, o.apply].filter((a) => a !== undefined);
      if (actions.length > 1) throw new UserError('Give one action at a time: --relabel, --quarantine, --check, --undo or --apply.');
      if ((o.relabel === undefined) !== (o.to === undefined))
        throw new UserError('--relabel FILE needs --to CLASS (and --to needs --relabel).');
      const store = await ReviewStore.open(root, runTable(root, meta.options ?? {}));
      for (const r of store.recovered)
        process.stderr.write(`tlkit: recovered an unfinished action ${r.id} (${r.from} -> ${r.to}): ${r.outcome}\n`);
      const say = (what: unknown, text: string): void => {
        process.stdout.write(`${o.json ? JSON.stringify(what) : text}\n`);
      };
      if (o.apply !== undefined) {
        const applied = await store.apply(o.apply);
        const count = (k: string) => applied.filter((a) => a.outcome === k).length;
        const skipped = applied.filter((a) => a.outcome === 'skipped').map((a) => `  skipped ${a.action} ${a.file}: ${a.why}`);
        say(
          applied,
          [`${count('applied')} applied, ${count('already')} already done, ${count('skipped')} skipped.`, ...skipped].join('\n'),
        );
        return;
      }
      const describe = (a: { id: string; action: string; from: string; to: string }) =>
        `${a.action} ${a.from}${a.to !== a.from ? ` -> ${a.to}` : ''} (journal entry ${a.id} in ${store.journal})`;
      const done =
        o.undo !== undefined
          ? await store.undo(typeof o.undo === 'string' ? o.undo : undefined)
          : o.relabel !== undefined
            ? await store.relabel(o.relabel, o.to as string, o.note)
            : o.quarantine !== undefined
              ? await store.quarantine(o.quarantine, o.note)
              : o.check !== undefined
                ? await store.check(o.check, o.note)
                : undefined;
      if (done) return say(done, describe(done));
      const count = (flag: string, v: string) => parseIntOption(flag, v, { min: 0, max: 10_000, example: '8' })!;
      const queue = await reviewQueue(run, root, {
        perClass: count('--per-class', o.perClass),
        uncertain: count('--uncertain', o.uncertain),
        outliers: count('--outliers', o.outliers),
        map: o.map,
        checkData: o.checkData,
      });
      say(queue, formatQueue(queue));
    });
}
