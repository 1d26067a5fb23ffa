import fs from 'node:fs';
import os from 'node:os';
import { UserError } from '../errors.js';

/**
 * An exclusive lock on a folder that one process writes (a run folder, a feature
 * cache): a file created with O_EXCL holding the writer's pid. A second writer gets
 * a UserError naming the holder; a lock whose process is gone (kill -9, a crash) is
 * taken over with a note. Re-entrant within a process (finetune's head phase and
 * its fine-tuning phase share one lock), released on release() or process exit.
 */
export interface FolderLock {
  readonly file: string;
  release(): void;
}

interface LockInfo {
  pid: number;
  host: string;
  command: string;
  since: string;
}

const held = new Map<string, { count: number }>();

export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): LockInfo | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

/** A lock held by another process that is still running on this machine. */
function isLiveOther(info: LockInfo | undefined): boolean {
  return info !== undefined && info.host === os.hostname() && info.pid !== process.pid && isProcessAlive(info.pid);
}

/** Who holds the lock file now, if another live process does. */
export function lockHolder(file: string): LockInfo | undefined {
  const info = readLock(file);
  return info && isLiveOther(info) ? info : undefined;
}

/** Remove a lock left by a process that is gone (never this process's, a live one's or an unreadable one). */
export function removeDeadLock(file: string): boolean {
  const info = readLock(file);
  if (!info || info.pid === process.pid || isLiveOther(info)) return false;
  fs.rmSync(file, { force: true });
  return true;
}

function removeIfMine(file: string): void {
  if (readLock(file)?.pid === process.pid) fs.rmSync(file, { force: true });
}

export function acquireLock(file: string, what: string, note: (line: string) => void = () => {}): FolderLock {
  const mine = held.get(file);
  if (mine) {
    mine.count++;
    return { file, release: () => releaseOnce(file) };
  }
  const info: LockInfo = {
    pid: process.pid,
    host: os.hostname(),
    command: process.argv.slice(1).join(' '),
    since: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, `${JSON.stringify(info)}\n`, { flag: 'wx' });
      held.set(file, { count: 1 });
      return { file, release: () => releaseOnce(file) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const other = readLock(file);
    if (other && isLiveOther(other)) {
      throw new UserError(
        `${what} is being written by another tlkit process (pid ${other.pid}, started ${other.since}: ${other.command}). ` +
          `Wait for it to finish or stop it, or write to another folder. (If no such process runs, remove ${file}.)`,
      );
    }
    if (other === undefined && attempt === 0) {
      // Created a moment ago and not written yet, or torn: give its writer a moment.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      if (readLock(file)) continue;
    }
    note(`note: taking over the lock on ${what}: ${other ? `its process (pid ${other.pid}) is gone` : 'the lock file was unreadable'}.`);
    fs.rmSync(file, { force: true });
  }
  throw new UserError(`Could not lock ${what} (${file} keeps coming back). Make sure no other tlkit process writes there, then retry.`);
}

function releaseOnce(file: string): void {
  const mine = held.get(file);
  if (!mine) return;
  if (--mine.count > 0) return;
  held.delete(file);
  removeIfMine(file);
}

process.on('exit', () => {
  for (const file of held.keys()) removeIfMine(file);
});
