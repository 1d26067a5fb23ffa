import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { acquireLock, isProcessAlive, lockHolder, removeDeadLock, type FolderLock } from '../io/lock.js';
import { recoverDirSwap, removeDeadTemporaries } from '../io/atomicWrite.js';
import { ensureWritableDir } from '../io/writableDir.js';
import { RUN_OUTPUTS, runPaths } from './paths.js';

/**
 * The life of a run folder while a run writes it, so that no finished model is ever
 * lost: the folder is locked; a crash of an earlier writer is repaired first; a finished
 * run that a new run replaces is set aside whole in `.replaced/` and only deleted once
 * the new run has saved its first checkpoint, and put back when the new run ends (or
 * crashed) without one.
 */
export class RunWriter {
  private replacing: boolean;

  private constructor(
    readonly dir: string,
    private readonly lock: FolderLock,
    replacing: boolean,
    private readonly log: (line: string) => void,
  ) {
    this.replacing = replacing;
  }

  /** Lock and repair `dir`; without `resume`, set aside the finished run it may hold. */
  static async open(dir: string, opts: { resume: boolean; log: (line: string) => void; flag?: string }): Promise<RunWriter> {
    ensureWritableDir(opts.flag ?? '--out', dir);
    const lock = acquireLock(runPaths(dir).lock, `the run folder ${dir}`, opts.log);
    try {
      for (const line of await recoverRunFolder(dir)) opts.log(`note: ${line}.`);
      let replacing = false;
      if (!opts.resume && existsSync(runPaths(dir).meta)) {
        await setAside(dir);
        replacing = true;
        opts.log(
          `note: ${dir} already holds a run; it is kept in ${runPaths(dir).replaced} until this run saves its first checkpoint (pass --resume to continue it instead).`,
        );
      }
      return new RunWriter(dir, lock, replacing, opts.log);
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  /** True while the replaced run is still kept aside. */
  get keepsReplacedRun(): boolean {
    return this.replacing;
  }

  /** The new run has a checkpoint: the replaced run can go. */
  async checkpointSaved(): Promise<void> {
    if (!this.replacing) return;
    this.replacing = false;
    await fsp.rm(runPaths(this.dir).replaced, { recursive: true, force: true });
  }

  /** End of writing: a replacing run without a checkpoint gives the folder back to the replaced run. */
  async close(): Promise<void> {
    try {
      if (this.replacing) {
        await restoreReplaced(this.dir);
        this.replacing = false;
        this.log(`note: no checkpoint was saved, so ${this.dir} holds the previous run again, whole.`);
      }
    } finally {
      this.lock.release();
    }
  }
}

async function setAside(dir: string): Promise<void> {
  const p = runPaths(dir);
  // Moved into a temporary folder first: a crash midway leaves `.replaced.tmp`, which recovery moves back.
  const tmp = `${p.replaced}.tmp`;
  await fsp.rm(tmp, { recursive: true, force: true });
  await fsp.mkdir(tmp);
  for (const name of RUN_OUTPUTS) {
    if (existsSync(path.join(dir, name))) await fsp.rename(path.join(dir, name), path.join(tmp, name));
  }
  await fsp.rename(tmp, p.replaced);
}

async function moveBack(from: string, dir: string): Promise<void> {
  for (const name of await fsp.readdir(from)) {
    const dest = path.join(dir, name);
    await fsp.rm(dest, { recursive: true, force: true });
    await fsp.rename(path.join(from, name), dest);
  }
  await fsp.rm(from, { recursive: true, force: true });
}

async function restoreReplaced(dir: string): Promise<void> {
  const p = runPaths(dir);
  // The new run's files go; the old run's come back.
  for (const name of RUN_OUTPUTS) await fsp.rm(path.join(dir, name), { recursive: true, force: true });
  await moveBack(p.replaced, dir);
}

/**
 * Repair what a writer that died (kill -9, power loss) may have left, when no live
 * process is writing the folder: a checkpoint or state swap cut between its two
 * renames, a run set aside half-way, a replaced run whose successor never saved a
 * checkpoint, stale temporaries. Returns a line per repair. Readers call it too.
 */
export async function recoverRunFolder(dir: string): Promise<string[]> {
  const p = runPaths(dir);
  if (!existsSync(dir) || lockHolder(p.lock)) return [];
  const done: string[] = [];
  if (removeDeadLock(p.lock)) done.push(`removed the lock of a tlkit process that stopped while writing ${dir}`);
  done.push(...(await recoverDirSwap(p.model, isProcessAlive)));
  done.push(...(await recoverDirSwap(p.state, isProcessAlive)));
  done.push(...(await recoverDirSwap(p.knn, isProcessAlive)));
  if (existsSync(`${p.replaced}.tmp`)) {
    await moveBack(`${p.replaced}.tmp`, dir);
    done.push(`put back the run in ${dir} that an interrupted run had begun to set aside`);
  }
  if (existsSync(p.replaced)) {
    if (existsSync(path.join(p.model, 'model.json'))) {
      await fsp.rm(p.replaced, { recursive: true, force: true });
    } else {
      await restoreReplaced(dir);
      done.push(`restored the previous run in ${dir}: the run that was replacing it stopped before its first checkpoint`);
    }
  }
  await removeDeadTemporaries(dir, isProcessAlive);
  return done;
}
