import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isUserError, UserError } from '../errors.js';
import { acquireLock, type FolderLock } from '../io/lock.js';
import { absOf, appendEntry, journalState, newEntryId, readJournal, type ActionBody, type DoneAction, type TableEdit } from './journal.js';
import { lineAt, replaceRow } from './tableEdit.js';

// One action carried out: intent (fsynced), the table's row, the file's rename, done. A
// rename inside one file system is atomic, so the file is at `from` or at `to`, never both,
// never neither; the journal says which through the lines around it, and recovery settles
// an intent left without its done by looking at the disk.

/** Tests stop the process here (SIGKILL, as a crash would) to check recovery: 'after-intent' or 'after-rename'. */
const CRASH_HOOK = 'TLKIT_REVIEW_TEST_CRASH';

function crashPoint(at: 'after-intent' | 'after-rename'): void {
  if (process.env[CRASH_HOOK] === at) process.kill(process.pid, 'SIGKILL');
}

/** Tests hold an action this many ms between its intent and its change, as a slow disk could. */
const PAUSE_HOOK = 'TLKIT_REVIEW_TEST_PAUSE_MS';
/** How long an action waits for another process's action on the same journal. */
const LOCK_WAIT_MS = 10_000;

const queues = new Map<string, Promise<unknown>>();

/**
 * One action (or recovery) at a time on a journal: within a process (the UI serves requests
 * concurrently) through a queue, across processes (the UI and `tlkit review` on one data folder)
 * through a lock file beside the journal, waited for while a live process holds it. So recovery
 * never takes another process's action in progress for a crash, and two moves never interleave.
 */
async function underJournalLock<T>(journal: string, fn: () => Promise<T>): Promise<T> {
  const run = (queues.get(journal) ?? Promise.resolve())
    .catch(() => {})
    .then(async () => {
      const lock = await waitForLock(`${journal}.lock`, `The review journal ${journal}`);
      try {
        return await fn();
      } finally {
        lock.release();
      }
    });
  queues.set(journal, run);
  try {
    return await run;
  } finally {
    if (queues.get(journal) === run) queues.delete(journal);
  }
}

async function waitForLock(file: string, what: string): Promise<FolderLock> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      return acquireLock(file, what);
    } catch (e) {
      if (!isUserError(e) || Date.now() > deadline) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function sha256Of(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // some file systems cannot fsync a folder; the rename is still atomic
  }
}

/** Whether the table shows the edit made: the new row at its line (a removal: the old row gone from it). */
function tableEdited(dataRoot: string, e: TableEdit): boolean {
  const now = lineAt(absOf(dataRoot, e.table), e.line);
  return e.newRow !== null ? now === e.newRow : now !== e.oldRow;
}

async function editTable(dataRoot: string, e: TableEdit): Promise<void> {
  await replaceRow(absOf(dataRoot, e.table), e.line, e.oldRow, e.newRow);
}

function renameInto(from: string, to: string): void {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  try {
    fs.renameSync(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EXDEV')
      throw new UserError(
        `${from} and ${path.dirname(to)} are on different file systems, where a move cannot be atomic. Keep the data folder on one file system.`,
      );
    throw e;
  }
  fsyncDir(path.dirname(to));
  fsyncDir(path.dirname(from));
}

/**
 * Carry out an action and journal it. The file must be at `from` (with the sha256 the body
 * gives) and `to` free; a table edit's row must read as the body says. Returns the done action.
 */
export async function execute(dataRoot: string, journal: string, body: ActionBody): Promise<DoneAction> {
  return underJournalLock(journal, () => executeLocked(dataRoot, journal, body));
}

async function executeLocked(dataRoot: string, journal: string, body: ActionBody): Promise<DoneAction> {
  const moves = body.from !== body.to;
  const from = absOf(dataRoot, body.from);
  const to = absOf(dataRoot, body.to);
  if (moves) {
    if (!fs.existsSync(from)) throw new UserError(`No file ${body.from} in ${dataRoot}: it was moved or renamed since. Refresh the queue.`);
    if (fs.existsSync(to)) throw new UserError(`${body.to} exists already in ${dataRoot}: review never overwrites a file.`);
  }
  const edit = body.tableEdit;
  if (edit && edit.oldRow !== null && lineAt(absOf(dataRoot, edit.table), edit.line) !== edit.oldRow)
    throw new UserError(`The row of ${edit.file} in ${edit.table} changed since it was read. Refresh the queue.`);
  const id = newEntryId();
  const time = new Date().toISOString();
  appendEntry(journal, { id, time, phase: 'intent', ...body });
  crashPoint('after-intent');
  const pause = Number(process.env[PAUSE_HOOK] ?? 0);
  if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
  if (body.tableEdit) await editTable(dataRoot, body.tableEdit);
  if (moves) renameInto(from, to);
  crashPoint('after-rename');
  appendEntry(journal, { id, time: new Date().toISOString(), phase: 'done' });
  return { id, time, ...body };
}

/** What recovery did with each intent left open. */
export interface Recovered {
  id: string;
  outcome: 'done' | 'abandoned';
  from: string;
  to: string;
}

/**
 * Settle every intent without a done line (a process killed mid-action): the file at `to`
 * (and not at `from`) means the action happened, and a done line is appended; at `from` only,
 * with the table untouched, it never did: an abandoned line. A table edited but the file not
 * yet moved is finished (the move). A file in both places or in neither is a UserError that
 * names them: a person must look (nothing is moved or removed).
 */
export async function recover(dataRoot: string, journal: string): Promise<Recovered[]> {
  // Nothing open: no lock (a read-only data folder can still be reviewed). Else, under the lock,
  // what is still open is what a process left behind when it stopped.
  if (journalState(readJournal(journal)).open.length === 0) return [];
  return underJournalLock(journal, () => recoverLocked(dataRoot, journal));
}

async function recoverLocked(dataRoot: string, journal: string): Promise<Recovered[]> {
  const { open } = journalState(readJournal(journal));
  const out: Recovered[] = [];
  for (const a of open) {
    const moves = a.from !== a.to;
    const atFrom = fs.existsSync(absOf(dataRoot, a.from));
    const atTo = fs.existsSync(absOf(dataRoot, a.to));
    const edited = a.tableEdit ? tableEdited(dataRoot, a.tableEdit) : undefined;
    const time = () => new Date().toISOString();
    if (moves && atFrom && atTo)
      throw new UserError(
        `The review journal ${journal} has an unfinished move (${a.id}) and its file is in both places: ${a.from} and ${a.to}. Keep the one you want, move the other out of the data folder, then run again.`,
      );
    if (moves && !atFrom && !atTo)
      throw new UserError(
        `The review journal ${journal} has an unfinished move (${a.id}) of ${a.from} to ${a.to}, and the file is in neither place. Put it back at one of them, then run again.`,
      );
    const happened = moves ? atTo || edited === true : edited === true;
    if (happened) {
      if (a.tableEdit && !edited) await editTable(dataRoot, a.tableEdit);
      if (moves && atFrom) renameInto(absOf(dataRoot, a.from), absOf(dataRoot, a.to));
      appendEntry(journal, { id: a.id, time: time(), phase: 'done', recovered: true });
    } else {
      appendEntry(journal, { id: a.id, time: time(), phase: 'abandoned', why: 'the process stopped before the change' });
    }
    out.push({ id: a.id, outcome: happened ? 'done' : 'abandoned', from: a.from, to: a.to });
  }
  return out;
}
