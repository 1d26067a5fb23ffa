import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { extractFeatures } from '../features/extract.js';
import { loadBase } from '../applications/loadBase.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { train } from '../workflows/train.js';
import type { TrainOptionsInput } from '../workflows/options.js';
import { readMeta } from './meta.js';
import { runPaths } from './paths.js';
import { checkRunDir } from './runDir.js';
import { RunWriter } from './runFolder.js';

// Every way a finished model used to be lost, each reproduced on a real run folder.

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-runfolder-'));
const ready = (async () => {
  await initBackend('cpu');
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 8, validation: 4 });
  const base = await makeTinyBase(path.join(root, 'base'));
  return { data, base };
})();
const notes: string[] = [];
const hooks = { log: (l: string) => notes.push(l) };

async function options(out: string, extra: Partial<TrainOptionsInput> = {}): Promise<TrainOptionsInput> {
  const { data, base } = await ready;
  return { data, base, out, epochs: 2, batchSize: 8, headUnits: 4, verbose: 0, cacheDir: path.join(root, 'cache'), ...extra };
}

/** Every file of a folder (recursively) with its bytes, to compare two states of a run folder. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}

/** A pid no process has (a child that already exited). */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

function writeLock(dir: string, pid: number): void {
  fs.writeFileSync(
    path.join(dir, '.lock'),
    JSON.stringify({ pid, host: os.hostname(), command: 'tlkit train (test)', since: new Date().toISOString() }),
  );
}

test('training again into a finished run, interrupted before its first checkpoint, leaves the old run whole', async () => {
  const out = path.join(root, 'retrain');
  await train(await options(out), hooks);
  // The run's dataset map (as the UI's Map panel computes it) belongs to the run too.
  fs.mkdirSync(runPaths(out).map);
  fs.writeFileSync(path.join(runPaths(out).map, 'map.json'), '{"points":[]}\n');
  const before = snapshot(out);
  const controller = new AbortController();
  const stop = new tfl.CustomCallback({ onBatchEnd: async () => controller.abort() }) as unknown as tfl.Callback;
  notes.length = 0;
  const r = await train(await options(out, { epochs: 5, seed: 9, signal: controller.signal }), { ...hooks, callbacks: [stop] });
  assert.equal(r.interrupted, true);
  assert.equal(r.bestEpoch, -1);
  assert.deepEqual(snapshot(out), before, 'every file of the finished run is back as it was');
  assert.ok(
    notes.some((n) => /kept in .*\.replaced until this run saves its first checkpoint/.test(n)),
    notes.join('\n'),
  );
  assert.ok(
    notes.some((n) => /no checkpoint was saved, so .* holds the previous run again, whole/.test(n)),
    notes.join('\n'),
  );

  // Once the new run has a checkpoint, it replaces the old one for good.
  await train(await options(out, { epochs: 1, seed: 9 }), hooks);
  assert.ok(!fs.existsSync(runPaths(out).replaced));
  assert.equal((await readMeta(out)).epochsDone, 1);
  assert.ok(!fs.existsSync(runPaths(out).map), "the old run's map went with it: it showed the old run's features");
});

test('a writer killed before its first checkpoint: the next reader puts the replaced run back', async () => {
  const out = path.join(root, 'killed');
  await train(await options(out), hooks);
  const before = snapshot(out);
  // What a kill -9 leaves: the old run set aside, a new meta.json, the lock of a dead process.
  const writer = await RunWriter.open(out, { resume: false, log: () => {} });
  assert.ok(writer.keepsReplacedRun);
  fs.writeFileSync(runPaths(out).meta, '{"tool":"tlkit","half":"written"}');
  writeLock(out, deadPid());
  await checkRunDir(out);
  assert.deepEqual(snapshot(out), before, "the old run is back and the dead writer's lock is gone");
});

test("a crash between the checkpoint swap's two renames is repaired when the run is opened, and stale temporaries go", async () => {
  const out = path.join(root, 'swap');
  await train(await options(out), hooks);
  const before = snapshot(out);
  const pid = deadPid();
  // writeDirAtomic had renamed model/ aside and not yet moved the new one in.
  fs.renameSync(runPaths(out).model, path.join(out, `.model.${pid}.1700000000000.tmp.old`));
  fs.mkdirSync(path.join(out, `.model.${pid}.1700000000000.tmp`));
  fs.writeFileSync(path.join(out, `.model.${pid}.1700000000000.tmp`, 'model.json'), '{"half":');
  fs.mkdirSync(path.join(out, `.model.${pid}.1600000000000.tmp`));
  fs.writeFileSync(path.join(out, `.meta.json.${pid}.1700000000000.tmp`), '{');
  await checkRunDir(out);
  assert.deepEqual(snapshot(out), before, 'model/ restored, every temporary removed');
});

test("a second writer of a run folder or a feature cache is refused, naming the holder; a dead holder's lock is taken over", async () => {
  const out = path.join(root, 'locked');
  fs.mkdirSync(out, { recursive: true });
  const holder = spawn('sleep', ['30']);
  try {
    writeLock(out, holder.pid!);
    await assert.rejects(
      train(await options(out), hooks),
      (e: Error) => e.name === 'UserError' && new RegExp(`being written by another tlkit process \\(pid ${holder.pid}`).test(e.message),
    );
    assert.ok(!fs.existsSync(runPaths(out).meta), 'nothing was written');

    const cache = path.join(root, 'locked-cache');
    fs.mkdirSync(cache);
    writeLock(cache, holder.pid!);
    const base = await loadBase({ base: (await ready).base });
    await assert.rejects(
      extractFeatures({ base, data: (await ready).data, out: cache }),
      (e: Error) => e.name === 'UserError' && /the feature cache .* is being written by another tlkit process/.test(e.message),
    );
  } finally {
    holder.kill();
  }
  writeLock(out, deadPid());
  notes.length = 0;
  await train(await options(out, { epochs: 1 }), hooks);
  assert.ok(
    notes.some((n) => /taking over the lock on the run folder .*: its process \(pid \d+\) is gone/.test(n)),
    notes.join('\n'),
  );
  assert.ok(!fs.existsSync(path.join(out, '.lock')));
});
