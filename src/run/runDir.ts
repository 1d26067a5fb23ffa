import { existsSync, promises as fsp, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { hasImageExtension } from '../data/decode.js';
import { listClassDirs, SPLIT_NAMES } from '../data/splits.js';
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
  if (!existsSync(p.meta)) throw new UserError(notARun(dir));
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

/** Why `dir`, which has no meta.json, is not a run, with the folder to give instead: the run's model/, an export, a data folder. */
function notARun(dir: string): string {
  const give = 'Give the run folder (the --out folder of `tlkit train`)';
  const parent = path.dirname(path.resolve(dir));
  if (path.basename(path.resolve(dir)) === RUN_FILES.model && existsSync(runPaths(parent).meta)) {
    return `${dir} is the model folder inside the run ${parent}. Give the run folder itself: ${parent}.`;
  }
  const exported = exportFormat(dir);
  if (exported) {
    // `tlkit ui` exports into <run>/exports/<format>.
    const run = path.dirname(path.dirname(path.resolve(dir)));
    const from = path.basename(parent) === 'exports' && existsSync(runPaths(run).meta) ? `: ${run}` : '';
    return `${dir} is a tlkit export (${exported}), made to use the model elsewhere; tlkit's commands read the run it was exported from. ${give} it came from${from}.`;
  }
  if (looksLikeData(dir)) {
    return `${dir} is a data folder (images in class folders), not a trained run. ${give} trained on it; a data folder goes to --data.`;
  }
  return `${dir} is not a tlkit run folder: it has no ${RUN_FILES.meta}. ${give}, or train into this one with \`tlkit train --out ${dir}\`.`;
}

/** The format of a tlkit export folder (metadata.json written by tlkit export), if `dir` is one. */
function exportFormat(dir: string): string | undefined {
  try {
    const m = JSON.parse(readFileSync(path.join(dir, 'metadata.json'), 'utf8')) as {
      exportedBy?: string;
      format?: string;
      userMetadata?: { tlkit?: { format?: string } };
    };
    if (m.exportedBy === 'tlkit') return `format ${m.format ?? 'unknown'}`;
    if (m.userMetadata?.tlkit) return 'format tm, Teachable Machine';
  } catch {
    // not an export
  }
  return undefined;
}

/** A data folder: train/, validation/ or test/, or sub-folders holding images directly. */
function looksLikeData(dir: string): boolean {
  const subs = listClassDirs(dir);
  if (subs.some((d) => (SPLIT_NAMES as readonly string[]).includes(d))) return true;
  return subs.slice(0, 5).some((d) => readdirSync(path.join(dir, d)).some(hasImageExtension));
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
