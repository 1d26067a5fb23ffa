import { existsSync, promises as fsp, statSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { lockHolder } from '../io/lock.js';
import { parseHistory, type HistoryData } from './history.js';
import { readMeta, type RunMeta } from './meta.js';
import { RUN_FILES, runPaths } from './paths.js';
import { recoverRunFolder } from './runFolder.js';

/**
 * The reading side of a run folder (evaluate, predict, report, loadClassifier): repair
 * what a crashed writer left, then check that the folder holds a finished model.
 */
export async function checkRunDir(dir: string): Promise<void> {
  const p = runPaths(dir);
  if (!existsSync(dir)) {
    throw new UserError(`The run dir ${dir} does not exist. Give the --out folder of a finished \`tlkit train\` (or \`tlkit demo\`) run.`);
  }
  if (!statSync(dir).isDirectory()) throw new UserError(`${dir} is a file; expected a run dir (the --out folder of \`tlkit train\`).`);
  for (const line of await recoverRunFolder(dir)) process.stderr.write(`tlkit: note: ${line}.\n`);
  if (!existsSync(p.meta)) {
    throw new UserError(
      `${dir} is not a complete tlkit run dir: it has no ${RUN_FILES.meta}. Train into it with \`tlkit train --out ${dir}\`, or give the right folder.`,
    );
  }
  if (!existsSync(path.join(p.model, 'model.json'))) {
    const writer = lockHolder(p.lock);
    throw new UserError(
      writer
        ? `${dir} is being trained by another tlkit process (pid ${writer.pid}) and has no checkpoint yet. Wait for its first epoch to finish.`
        : `${dir} is an incomplete tlkit run dir: it has no saved model (${path.join(RUN_FILES.model, 'model.json')}), so training stopped before its first checkpoint. ` +
            `Run \`tlkit train ... --out ${dir} --resume\` or train again.`,
    );
  }
}

export async function readHistory(dir: string): Promise<HistoryData | null> {
  const file = runPaths(dir).history;
  if (!existsSync(file)) return null;
  return parseHistory(await fsp.readFile(file, 'utf8'));
}

export interface RunInfo {
  dir: string;
  meta: RunMeta;
  history: HistoryData | null;
}

/** A finished run's meta and history (the model is loaded by inference/). */
export async function readRun(dir: string): Promise<RunInfo> {
  await checkRunDir(dir);
  return { dir, meta: await readMeta(dir), history: await readHistory(dir) };
}
