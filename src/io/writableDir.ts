import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';

// Output folders are checked before any minutes of work start: a folder tlkit cannot
// create or write must fail at once, naming the path, not after extraction.

/** Kernel file systems: nothing can be written there, and Node 20's recursive mkdir loops forever under /proc. */
const VIRTUAL_ROOTS = ['/proc', '/sys', '/dev'];

const DISK_FIX = 'Give a folder on a writable disk that you may write to.';
const PATH_FIX = 'Give a path whose every parent is a folder, or move the file away.';

/** What an error code means for an output folder, and the fix to suggest. */
const WHY: Record<string, [string, string]> = {
  EROFS: ['the file system is read-only', DISK_FIX],
  EACCES: ['permission denied', DISK_FIX],
  EPERM: ['operation not permitted', DISK_FIX],
  ENOSPC: ['the disk is full', 'Free some space, or give a folder on another disk.'],
  EDQUOT: ['the disk quota is exceeded', 'Free some space, or give a folder on another disk.'],
  ENOTDIR: ['a part of the path is a file, not a folder', PATH_FIX],
  EEXIST: ['a file is in the way', PATH_FIX],
  ENAMETOOLONG: ['the path is too long', 'Give a shorter path.'],
};

/** The nearest part of `p` that exists (p itself, or a parent). */
function nearestExisting(p: string): string {
  let cur = path.resolve(p);
  while (!fs.existsSync(cur)) {
    const up = path.dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  return cur;
}

export interface WritableDirOptions {
  /**
   * Keep the folders the check creates (default true: the command writes into `dir`
   * next). false: check only, removing again every folder it created, for commands
   * that create `dir` themselves later (atomically) and must leave nothing behind when
   * a later check fails.
   */
  keep?: boolean;
}

/**
 * The one check of an output folder (train, extract, demo, export): `dir` is created if
 * missing and proved writable with a probe file; otherwise a UserError naming `flag`,
 * the path, the reason and the fix.
 */
export function ensureWritableDir(flag: string, dir: string, opts: WritableDirOptions = {}): void {
  if (dir.trim() === '') throw new UserError(`${flag} needs a folder path, got an empty string.`);
  let real: string;
  try {
    real = fs.realpathSync(nearestExisting(dir));
  } catch {
    real = path.resolve(dir);
  }
  const virtual = VIRTUAL_ROOTS.find((r) => real === r || real.startsWith(`${r}/`));
  if (virtual) {
    throw new UserError(
      `${flag} ${dir} is under ${virtual}, a kernel file system where nothing can be written. Give a folder on a disk, e.g. ${flag} runs/my-run.`,
    );
  }
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new UserError(
      `${flag} ${dir} is an existing file, not a folder. Give a folder path (it is created when missing), or move the file away.`,
    );
  }
  const probe = path.join(dir, `.tlkit-write-test-${process.pid}`);
  const created: string[] = [];
  try {
    // One level at a time: a recursive mkdir reports ENOENT on a read-only disk, not EROFS.
    const missing: string[] = [];
    for (let cur = path.resolve(dir); !fs.existsSync(cur); cur = path.dirname(cur)) missing.unshift(cur);
    for (const d of missing) {
      try {
        fs.mkdirSync(d);
        created.push(d);
      } catch (e) {
        // Another process (a parallel shard of the same --out) made it first: that is fine.
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(d).isDirectory()) throw e;
      }
    }
    if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'EEXIST' });
    fs.writeFileSync(probe, 'x');
    fs.rmSync(probe, { force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    const [why, fix] = WHY[code] ?? [(e as Error).message, DISK_FIX];
    throw new UserError(`${flag} ${dir} cannot be written: ${why}${code ? ` (${code})` : ''}. ${fix}`);
  } finally {
    if (opts.keep === false) for (const d of created.reverse()) fs.rmSync(d, { recursive: true, force: true });
  }
}
