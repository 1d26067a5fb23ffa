import { promises as fsp, writeFileSync, renameSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';

// Every output a later run may trust (checkpoints, caches, reports) goes through
// here: write beside the target, fsync, then rename, so a crash leaves either the
// old file or the new one, never half of one.

function tmpName(target: string): string {
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
    throw e;
  }
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
    throw e;
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
