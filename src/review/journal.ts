import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';

// The review journal: one JSON object a line in the data folder, only ever appended to.
// An action that changes files is written twice: an intent line (fsynced) before the
// change, a done line (same id) after it. A process killed between the two leaves an
// intent without its done; recovery (recover.ts) finds where the file is and appends the
// outcome. Hidden (a dot file), so no listing of the dataset ever reads it as an image.

/** The journal's name inside the data folder. */
export const JOURNAL_FILE = '.tlkit-review.jsonl';

export type ReviewAction = 'relabel' | 'quarantine' | 'check' | 'undo';

/** A row of a labels table as it was and as it becomes (a relabel of a table's image). */
export interface TableEdit {
  /** The table, relative to the data folder ('/'-separated). */
  table: string;
  /** The image the row names, relative to the data folder. */
  file: string;
  /** The row's line (1-based). */
  line: number;
  /** The row's text before and after (one line, no line break); null: no row (a quarantine removes it, its undo puts it back). */
  oldRow: string | null;
  newRow: string | null;
}

/** What an action does: a file moved (from -> to), a table row rewritten, or neither (check). */
export interface ActionBody {
  action: ReviewAction;
  /** The file's path before the action, relative to the data folder ('/'-separated). */
  from: string;
  /** Its path after (equal to `from` when the file stays: a check or a table edit). */
  to: string;
  /** sha256 of the file's bytes when the action was taken. */
  sha256: string;
  /** The class the image had and has after (relabel); the quarantine's has none after. */
  fromLabel?: string;
  toLabel?: string;
  tableEdit?: TableEdit;
  /** An undo: the id of the entry it reverses. */
  undoes?: string;
  /** An action replayed from another journal (`--apply`): that journal's entry id. */
  appliedFrom?: string;
  /** Free text: why (a person's note, or the queue's reason). */
  note?: string;
}

export type JournalEntry =
  | ({ id: string; time: string; phase: 'intent' } & ActionBody)
  | { id: string; time: string; phase: 'done'; recovered?: true }
  /** The intent's change never happened (the process stopped before it): nothing to undo. */
  | { id: string; time: string; phase: 'abandoned'; why: string };

/** An action whose change is complete: its intent with a done line. */
export type DoneAction = { id: string; time: string } & ActionBody;

export function journalPath(dataRoot: string): string {
  return path.join(dataRoot, JOURNAL_FILE);
}

export function newEntryId(): string {
  return randomUUID();
}

/**
 * The entries of a journal, in order. A line that is not JSON is left out: the last line of a
 * process killed while writing it (appendEntry ends such a line before writing again).
 */
export function readJournal(file: string): JournalEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const entries: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const e = JSON.parse(line) as JournalEntry;
      if (e && typeof e.id === 'string' && typeof e.phase === 'string') entries.push(e);
    } catch {
      // a torn last line
    }
  }
  return entries;
}

/** Append one entry and fsync it, so that it is on disk before the change it announces is made. */
export function appendEntry(file: string, entry: JournalEntry): void {
  const fd = fs.openSync(file, 'a+');
  try {
    const size = fs.fstatSync(fd).size;
    let prefix = '';
    if (size > 0) {
      // A line torn by a kill has no line break: end it, so this entry stays a line of its own.
      const last = Buffer.alloc(1);
      fs.readSync(fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    fs.writeSync(fd, `${prefix}${JSON.stringify(entry)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The state of every action of a journal: those done (in order), those undone, intents still open. */
export interface JournalState {
  done: DoneAction[];
  /** Ids of done actions reversed by a later undo that is done. */
  undone: Set<string>;
  /** Intents with neither a done nor an abandoned line: what recovery reconciles. */
  open: Array<{ id: string; time: string } & ActionBody>;
}

export function journalState(entries: JournalEntry[]): JournalState {
  const intents = new Map<string, { id: string; time: string } & ActionBody>();
  const closed = new Set<string>();
  const done: DoneAction[] = [];
  for (const e of entries) {
    if (e.phase === 'intent') {
      const { phase: _, ...body } = e;
      intents.set(e.id, body);
    } else if (e.phase === 'done') {
      const intent = intents.get(e.id);
      if (intent && !closed.has(e.id)) done.push(intent);
      closed.add(e.id);
    } else closed.add(e.id);
  }
  // An undo of an undo re-does: an action is undone when an undo of it is done and not itself undone.
  const undoneBy = new Map<string, string>();
  for (const a of done) if (a.action === 'undo' && a.undoes) undoneBy.set(a.undoes, a.id);
  const isUndone = (id: string, depth = 0): boolean => {
    const by = undoneBy.get(id);
    return by !== undefined && depth < 1000 && !isUndone(by, depth + 1);
  };
  const undone = new Set(done.filter((a) => isUndone(a.id)).map((a) => a.id));
  const open = [...intents.values()].filter((i) => !closed.has(i.id));
  return { done, undone, open };
}

/** A relative path of the data folder in the journal's form ('/'-separated), refused when it leaves the folder. */
export function journalRel(dataRoot: string, file: string): string {
  const abs = path.resolve(dataRoot, file);
  const rel = path.relative(dataRoot, abs);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel))
    throw new UserError(`${file} is not inside the data folder ${dataRoot}: review acts only on the folder's own images.`);
  return rel.split(path.sep).join('/');
}

/** The absolute path of a journal's relative path. */
export function absOf(dataRoot: string, rel: string): string {
  return path.join(dataRoot, ...rel.split('/'));
}
