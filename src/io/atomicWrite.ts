import { promises as fsp, writeFileSync, renameSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';

// Every output a later run may trust (checkpoints, caches, reports) goes through
// here: write beside the target, fsync, then rename, so a crash leaves either the
// old file or the new one, never half of one.

/** Where a write of `target` goes first: beside it, named for this process, so a dead writer's is known (removeDeadTemporaries). */
export function tmpName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${Date.now()}.tmp`);
}

export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = tmpName(target);
  try {
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, target);
  } catch (e) {
    // A full disk, or a target that is a folder: leave no stray temporary behind.
    await fsp.rm(tmp, { force: true });
    throw withPath(e, target);
  }
}

/** Write errors (ENOSPC from write(2)) carry no path: name the file the user would look for. */
export function withPath(e: unknown, target: string): unknown {
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err === 'object' && typeof err.code === 'string' && !err.path) err.path = target;
  return e;
}

export function writeFileAtomicSync(target: string, data: string | Uint8Array): void {
  mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tmpName(target);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Replace a whole directory atomically: `fill` writes into a fresh sibling
 * directory, which is then renamed over `target` (the old one is removed after).
 */
export async function writeDirAtomic(target: string, fill: (dir: string) => Promise<void>): Promise<void> {
  const parent = path.dirname(target);
  await fsp.mkdir(parent, { recursive: true });
  const tmp = tmpName(target);
  await fsp.mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw withPath(e, target);
  }
  const old = `${tmp}.old`;
  let hadOld = false;
  try {
    await fsp.rename(target, old);
    hadOld = true;
  } catch {
    /* no previous directory */
  }
  await fsp.rename(tmp, target);
  if (hadOld) await fsp.rm(old, { recursive: true, force: true });
}

const TEMP_NAME = /^\.(.+)\.(\d+)\.(\d+)\.tmp(\.old)?$/;

/**
 * Put a folder written by writeDirAtomic back in order after a crash, and clear the
 * temporaries of dead processes. The swap renames the old folder aside
 * (`.<name>.<pid>.<ms>.tmp.old`) before renaming the new one in: a crash between the
 * two leaves no `<name>`, and the set-aside copy (complete, and the one every record
 * still describes) is renamed back. Returns what it did, for a note to the user.
 */
export async function recoverDirSwap(target: string, isAlive: (pid: number) => boolean): Promise<string[]> {
  const parent = path.dirname(target);
  const name = path.basename(target);
  let entries: string[];
  try {
    entries = await fsp.readdir(parent);
  } catch {
    return [];
  }
  const done: string[] = [];
  const mine = entries
    .map((e) => ({ e, m: TEMP_NAME.exec(e) }))
    .filter(({ m }) => m && m[1] === name && !isAlive(Number(m[2])))
    .sort((a, b) => Number(b.m![3]) - Number(a.m![3]));
  let targetExists = entries.includes(name);
  for (const { e, m } of mine) {
    const p = path.join(parent, e);
    if (!targetExists && m![4]) {
      await fsp.rename(p, target);
      targetExists = true;
      done.push(`restored ${target} from ${e}, set aside by a process that stopped while replacing it`);
    } else {
      await fsp.rm(p, { recursive: true, force: true });
    }
  }
  return done;
}

/** Remove every `.<name>.<pid>.<ms>.tmp[.old]` in `dir` left by a process that is gone (run recoverDirSwap first). */
export async function removeDeadTemporaries(dir: string, isAlive: (pid: number) => boolean): Promise<void> {
  let entries: string[];
  try {
    entries = await fsp.readdir(dir);
  } catch {
    return;
  }
  await Promise.all(
    entries
      .map((e) => ({ e, m: TEMP_NAME.exec(e) }))
      .filter(({ m }) => m && !isAlive(Number(m[2])))
      .map(({ e }) => fsp.rm(path.join(dir, e), { recursive: true, force: true })),
  );
}
