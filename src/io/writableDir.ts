import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';

// Output folders are checked before any minutes of work start: a folder tlkit cannot
// create or write must fail at once, naming the path, not after extraction.

/** Kernel file systems: nothing can be written there, and Node 20's recursive mkdir loops forever under /proc. */
const VIRTUAL_ROOTS = ['/proc', '/sys', '/dev'];

const WHY: Record<string, string> = {
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exceeded',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'a file is in the way',
  ENAMETOOLONG: 'the path is too long',
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

/** Create `dir` if needed and prove it writable with a probe file; UserError naming `flag` and the path otherwise. */
export function ensureWritableDir(flag: string, dir: string): void {
  if (dir.trim() === '') throw new UserError(`${flag} needs a folder path, got an empty string.`);
  let real: string;
  try {
    real = fs.realpathSync(nearestExisting(dir));
  } catch {
    real = path.resolve(dir);
  }
  const virtual = VIRTUAL_ROOTS.find((r) => real === r || real.startsWith(`${r}/`));
  if (virtual) {
    throw new UserError(`${flag} ${dir} is under ${virtual}, a kernel file system where nothing can be written. Give a folder on a disk, e.g. ${flag} runs/my-run.`);
  }
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new UserError(`${flag} ${dir} is an existing file, not a folder. Give a folder path (it is created when missing), or move the file away.`);
  }
  const probe = path.join(dir, `.tlkit-write-test-${process.pid}`);
  try {
    // One level at a time: a recursive mkdir reports ENOENT on a read-only disk, not EROFS.
    const missing: string[] = [];
    for (let cur = path.resolve(dir); !fs.existsSync(cur); cur = path.dirname(cur)) missing.unshift(cur);
    for (const d of missing) fs.mkdirSync(d);
    if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'EEXIST' });
    fs.writeFileSync(probe, 'x');
    fs.rmSync(probe, { force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    const why = WHY[code] ?? (e as Error).message;
    throw new UserError(`${flag} ${dir} cannot be written: ${why}${code ? ` (${code})` : ''}. Give a folder on a writable disk that you may write to.`);
  }
}
