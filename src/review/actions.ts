import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { QUARANTINE_DIR, SPLIT_NAMES } from '../data/splits.js';
import { execute, recover, sha256Of, type Recovered } from './execute.js';
import {
  absOf,
  journalPath,
  journalRel,
  journalState,
  readJournal,
  type ActionBody,
  type DoneAction,
  type JournalState,
  type TableEdit,
} from './journal.js';
import { findRow, rowWithLabel, type TableColumns } from './tableEdit.js';

/** Where a run's labels come from when not from class folders: the table (absolute) and its file and label columns. */
export interface ReviewTable {
  file: string;
  columns: TableColumns;
}

/** What applying another journal did with each of its actions. */
export interface AppliedAction {
  source: string;
  action: string;
  file: string;
  outcome: 'applied' | 'already' | 'skipped';
  why?: string;
}

/**
 * The review actions on one data folder: relabel, quarantine, check, undo, and replaying
 * another copy's journal. Each is one journaled, atomic step (execute.ts); nothing is ever
 * deleted. Opening the store first settles what a killed process left unfinished.
 */
export class ReviewStore {
  readonly journal: string;

  private constructor(
    readonly dataRoot: string,
    readonly table: ReviewTable | undefined,
    /** What recovery settled when the store was opened. */
    readonly recovered: Recovered[],
  ) {
    this.journal = journalPath(dataRoot);
  }

  static async open(dataRoot: string, table?: ReviewTable): Promise<ReviewStore> {
    const root = path.resolve(dataRoot);
    if (!fs.existsSync(root) || !fs.statSync(root).isDirectory())
      throw new UserError(`The data folder ${dataRoot} does not exist. Pass the folder the run was trained on (--data).`);
    const recovered = await recover(root, journalPath(root));
    return new ReviewStore(root, table, recovered);
  }

  state(): JournalState {
    return journalState(readJournal(this.journal));
  }

  /** Files marked checked (and not undone), relative, with the sha256 they had then. */
  checked(): Map<string, string> {
    const s = this.state();
    return new Map(s.done.filter((a) => a.action === 'check' && !s.undone.has(a.id)).map((a) => [a.from, a.sha256]));
  }

  private existing(file: string): { rel: string; sha256: string } {
    const rel = journalRel(this.dataRoot, file);
    const abs = absOf(this.dataRoot, rel);
    if (!fs.existsSync(abs) || !fs.statSync(abs).isFile())
      throw new UserError(`No image ${rel} in ${this.dataRoot}: it was moved or renamed since. Refresh the queue.`);
    if (rel.split('/')[0] === QUARANTINE_DIR) throw new UserError(`${rel} is in quarantine: undo its quarantine first.`);
    return { rel, sha256: sha256Of(abs) };
  }

  /** The table edit that sets the row of `rel` to `label`, or (label null) removes it. */
  private tableEdit(rel: string, label: string | null): { edit: TableEdit; oldLabel: string } {
    const t = this.table as ReviewTable;
    const row = findRow(t.file, t.columns, rel);
    const edit: TableEdit = {
      table: journalRel(this.dataRoot, t.file),
      file: rel,
      line: row.line,
      oldRow: row.text,
      newRow: label === null ? null : rowWithLabel(t.file, t.columns, row.text, label),
    };
    const oldLabel = Array.isArray(row.label) ? row.label.map(String).join(' ') : String(row.label ?? '');
    return { edit, oldLabel };
  }

  /**
   * Give `file` the class `label`: moved to that class's folder of the same split (a free name
   * if one of its name is there), or its table row rewritten when labels come from a table.
   */
  async relabel(file: string, label: string, note?: string): Promise<DoneAction> {
    const { rel, sha256 } = this.existing(file);
    if (this.table) {
      const { edit, oldLabel } = this.tableEdit(rel, label);
      if (oldLabel === label) throw new UserError(`${rel} has the label '${label}' already.`);
      return execute(this.dataRoot, this.journal, {
        action: 'relabel',
        from: rel,
        to: rel,
        sha256,
        fromLabel: oldLabel,
        toLabel: label,
        tableEdit: edit,
        ...(note ? { note } : {}),
      });
    }
    const parts = rel.split('/');
    const at = (SPLIT_NAMES as readonly string[]).includes(parts[0]) && parts.length > 2 ? 1 : 0;
    if (parts.length < at + 2) throw new UserError(`${rel} is not inside a class folder, so it has no label to change.`);
    const fromLabel = parts[at];
    if (fromLabel === label) throw new UserError(`${rel} is in ${label}/ already.`);
    const classRoot = path.join(this.dataRoot, ...parts.slice(0, at));
    if (label === '' || /[/\\\0]/.test(label) || label.startsWith('.') || !fs.existsSync(path.join(classRoot, label)))
      throw new UserError(
        `'${label}' is not a class of ${path.relative(this.dataRoot, classRoot) || 'the data folder'}: relabel to one of its class folders.`,
      );
    const to = freeName([...parts.slice(0, at), label, ...parts.slice(at + 1)].join('/'), this.dataRoot);
    return execute(this.dataRoot, this.journal, {
      action: 'relabel',
      from: rel,
      to,
      sha256,
      fromLabel,
      toLabel: label,
      ...(note ? { note } : {}),
    });
  }

  /** Set `file` aside: moved to _quarantine/<its path>, out of every listing of the dataset; a table's row is removed with it. */
  async quarantine(file: string, note?: string): Promise<DoneAction> {
    const { rel, sha256 } = this.existing(file);
    const to = freeName(`${QUARANTINE_DIR}/${rel}`, this.dataRoot);
    const table = this.table ? this.tableEdit(rel, null) : undefined;
    return execute(this.dataRoot, this.journal, {
      action: 'quarantine',
      from: rel,
      to,
      sha256,
      ...(table ? { fromLabel: table.oldLabel, tableEdit: table.edit } : {}),
      ...(note ? { note } : {}),
    });
  }

  /** Mark `file` as looked at: the queue leaves it out while its bytes stay the same. */
  async check(file: string, note?: string): Promise<DoneAction> {
    const { rel, sha256 } = this.existing(file);
    return execute(this.dataRoot, this.journal, { action: 'check', from: rel, to: rel, sha256, ...(note ? { note } : {}) });
  }

  /**
   * Reverse a done action (by default the last one not undone, undos aside): the file moved
   * back byte for byte (the same file, renamed), the row written back, a check withdrawn.
   * Appends an undo entry; the entry undone stays in the journal.
   */
  async undo(id?: string): Promise<DoneAction> {
    const s = this.state();
    const target = id ? s.done.find((a) => a.id === id) : [...s.done].reverse().find((a) => a.action !== 'undo' && !s.undone.has(a.id));
    if (!target)
      throw new UserError(id ? `The review journal ${this.journal} has no done action ${id}.` : `Nothing to undo in ${this.journal}.`);
    if (s.undone.has(target.id)) throw new UserError(`The action ${target.id} is undone already.`);
    const at = absOf(this.dataRoot, target.to);
    if (!fs.existsSync(at)) throw new UserError(`${target.to} is no longer in ${this.dataRoot}, so ${target.id} cannot be undone.`);
    if (sha256Of(at) !== target.sha256)
      throw new UserError(`${target.to} changed since ${target.id} (its sha256 differs): undo would not give back the same file.`);
    const e = target.tableEdit;
    return execute(this.dataRoot, this.journal, {
      action: 'undo',
      undoes: target.id,
      from: target.to,
      to: target.from,
      sha256: target.sha256,
      ...(target.toLabel !== undefined ? { fromLabel: target.toLabel } : {}),
      ...(target.fromLabel !== undefined ? { toLabel: target.fromLabel } : {}),
      ...(e ? { tableEdit: { ...e, oldRow: e.newRow, newRow: e.oldRow } } : {}),
    });
  }

  /**
   * Replay the done actions of another journal (another copy of this data) in order, each
   * judged by what is on disk here: a move whose file (same sha256) is at its source is made,
   * one whose file is at its destination already is left; anything else is skipped, with why.
   * Applying the same journal twice changes nothing the second time.
   */
  async apply(otherJournal: string): Promise<AppliedAction[]> {
    if (!fs.existsSync(otherJournal)) throw new UserError(`The journal ${otherJournal} does not exist.`);
    const other = journalState(readJournal(otherJournal));
    const out: AppliedAction[] = [];
    const replayed = () => new Set(this.state().done.flatMap((m) => (m.appliedFrom ? [m.appliedFrom] : [])));
    for (const a of other.done) {
      const report = (outcome: AppliedAction['outcome'], why?: string) =>
        out.push({ source: a.id, action: a.action, file: a.from, outcome, ...(why ? { why } : {}) });
      // Replayed here before (by id), or taken here in the first place.
      if (replayed().has(a.id) || this.state().done.some((m) => m.id === a.id)) {
        report('already');
        continue;
      }
      const atFrom = absOf(this.dataRoot, a.from);
      const atTo = absOf(this.dataRoot, a.to);
      const same = (f: string) => fs.existsSync(f) && fs.statSync(f).isFile() && sha256Of(f) === a.sha256;
      if (a.action === 'check' || (a.action === 'undo' && a.from === a.to && !a.tableEdit)) {
        const checked = this.checked().get(a.from) === a.sha256;
        if ((a.action === 'check') === checked) report('already');
        else if (!same(atFrom)) report('skipped', `${a.from} is not here with the same bytes`);
        else if (a.action === 'check') {
          await this.record({ action: 'check', from: a.from, to: a.from, sha256: a.sha256, appliedFrom: a.id });
          report('applied');
        } else {
          const s = this.state();
          const mine = [...s.done].reverse().find((m) => m.action === 'check' && m.from === a.from && !s.undone.has(m.id));
          await this.record({ action: 'undo', undoes: mine!.id, from: a.from, to: a.from, sha256: a.sha256, appliedFrom: a.id });
          report('applied');
        }
        continue;
      }
      const edit = a.tableEdit ? this.localEdit(a.tableEdit) : undefined;
      const moved = a.from === a.to || (!fs.existsSync(atFrom) && same(atTo));
      const rowDone = !a.tableEdit || edit === 'done';
      if (moved && rowDone) {
        report('already');
        continue;
      }
      if (edit === 'other') {
        report('skipped', `the row of ${a.tableEdit!.file} in ${a.tableEdit!.table} is neither the old nor the new one`);
        continue;
      }
      if (a.from !== a.to && (!same(atFrom) || fs.existsSync(atTo))) {
        report('skipped', `${a.from} is not here with the same bytes, or ${a.to} is taken`);
        continue;
      }
      const { id: _, time: __, undoes, ...body } = a;
      const tableEdit = a.tableEdit && edit !== 'done' ? { ...a.tableEdit, line: this.lineOf(a.tableEdit) } : undefined;
      // An undo points at this journal's copy of the action it reverses, when that was replayed here.
      const local = undoes ? this.state().done.find((m) => m.appliedFrom === undoes || m.id === undoes)?.id : undefined;
      await this.record({ ...body, tableEdit, appliedFrom: a.id, undoes: local });
      report('applied');
    }
    return out;
  }

  private async record(body: ActionBody): Promise<DoneAction> {
    const clean = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) as unknown as ActionBody;
    return execute(this.dataRoot, this.journal, clean);
  }

  /** Where a table edit of another copy stands here: 'done' (the new row is there), 'todo' (the old one is), or 'other'. */
  private localEdit(e: TableEdit): 'done' | 'todo' | 'other' {
    const table = absOf(this.dataRoot, e.table);
    if (!this.table || !fs.existsSync(table)) return 'other';
    let text: string | undefined;
    try {
      text = findRow(table, this.table.columns, e.file).text;
    } catch {
      text = undefined;
    }
    if (text === undefined) return e.newRow === null ? 'done' : e.oldRow === null ? 'todo' : 'other';
    return text === e.newRow ? 'done' : text === e.oldRow ? 'todo' : 'other';
  }

  private lineOf(e: TableEdit): number {
    try {
      return findRow(absOf(this.dataRoot, e.table), (this.table as ReviewTable).columns, e.file).line;
    } catch {
      return e.line;
    }
  }
}

/** `rel`, or `stem~2.ext`, `stem~3.ext`, ... when a file of that name is there: review never overwrites. */
function freeName(rel: string, dataRoot: string): string {
  if (!fs.existsSync(absOf(dataRoot, rel))) return rel;
  const ext = path.posix.extname(rel);
  const stem = rel.slice(0, rel.length - ext.length);
  for (let k = 2; ; k++) {
    const candidate = `${stem}~${k}${ext}`;
    if (!fs.existsSync(absOf(dataRoot, candidate))) return candidate;
  }
}
