import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requiring } from '../testing/requirements.js';
import { linkedPhotoData, SHARED_MOBILENET } from '../testing/linkedPhotos.js';
import { jobEnded, needsSlurm, startSlurm, type SlurmCluster } from '../testing/slurmCluster.js';

// The sharded extraction as a user runs it on a cluster: deploy/slurm/submit.sh on a real
// one-node Slurm (slurm-wlm + munge, started and stopped here), one task SIGKILLed half-way
// and re-run alone, the merge (a dependent job) exact to an unsharded `tlkit extract`.

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TLKIT = [process.execPath, path.join(repoRoot, 'bin/tlkit.js')];

function tlkit(args: string[]) {
  return spawnSync(TLKIT[0], [TLKIT[1], ...args], { encoding: 'utf8', cwd: repoRoot });
}

/** tlkit in the background (it runs while the Slurm jobs do): its exit status and stderr. */
function tlkitLater(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(TLKIT[0], [TLKIT[1], ...args], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

/** The pid of the tlkit process running task `task` of array job `job`, if it runs now (read from /proc). */
function taskPid(job: string, task: number): number | undefined {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!cmd.some((a) => a.endsWith('tlkit.js')) || !cmd.includes('extract')) continue;
      const env = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (env.includes(`SLURM_ARRAY_JOB_ID=${job}`) && env.includes(`SLURM_ARRAY_TASK_ID=${task}`)) return Number(entry);
    } catch {
      /* gone meanwhile */
    }
  }
  return undefined;
}

/** Whether the shard's temporary folder holds written feature rows (a split done, or one in progress). */
function hasRows(features: string, shard: string): boolean {
  for (const tmp of fs.readdirSync(features).filter((e) => e.startsWith(`.${shard}.`))) {
    const stack = [path.join(features, tmp)];
    while (stack.length) {
      const dir = stack.pop()!;
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) stack.push(path.join(dir, e.name));
        else if (e.name === 'features.npy' && fs.statSync(path.join(dir, e.name)).size > 128) return true;
      }
    }
  }
  return false;
}

async function until<T>(what: string, probe: () => T | undefined | false, ms: number, cluster: SlurmCluster): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = probe();
      if (v) return v;
    } catch {
      /* a folder vanished between readdir and stat: look again */
    }
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms. ${cluster.logs()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** features.npy and labels.npy as bytes, meta.json without its timestamp, per split. */
function cache(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const split of ['train', 'validation', 'test']) {
    out[`${split}/features.npy`] = fs.readFileSync(path.join(dir, split, 'features.npy')).toString('base64');
    out[`${split}/labels.npy`] = fs.readFileSync(path.join(dir, split, 'labels.npy')).toString('base64');
    const meta = JSON.parse(fs.readFileSync(path.join(dir, split, 'meta.json'), 'utf8'));
    delete meta.createdAt;
    out[`${split}/meta.json`] = JSON.stringify(meta);
  }
  return out;
}

test(
  'on a real Slurm: sbatch --array=0-3 extract --shard auto, a shard SIGKILLed half-way and re-run alone, the dependent merge byte-equal to an unsharded extract, then train on it; missing and foreign shards exit 2',
  requiring(needsSlurm, async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-slurm-'));
    const data = linkedPhotoData(path.join(root, 'data'), 20);
    const whole = path.join(root, 'whole');
    const cluster = await startSlurm(path.join(root, 'slurm'));
    try {
      const features = path.join(root, 'features');
      const logs = path.join(root, 'logs');
      const env = {
        ...cluster.env,
        DATA: data,
        FEATURES: features,
        RUN: path.join(root, 'run'),
        BASE: SHARED_MOBILENET,
        SHARDS: '4',
        EPOCHS: '1',
        CPUS: '1',
        MEM: '1G',
        LOGS: logs,
        TLKIT: TLKIT.join(' '),
      };
      const submitted = spawnSync('bash', [path.join(repoRoot, 'deploy/slurm/submit.sh')], { env, encoding: 'utf8', cwd: root });
      assert.equal(submitted.status, 0, submitted.stderr);
      const [, array, merge] = /^shards (\d+) merge (\d+)$/m.exec(submitted.stdout) ?? [];
      assert.ok(array && merge, submitted.stdout);

      // Task 1 (of the first two that run), half-way: some feature rows written, the shard not published. SIGKILL.
      const pid = await until('array task 1 starting', () => taskPid(array, 1), 90000, cluster);
      await until('task 1 writing features', () => hasRows(features, 'shard-1-of-4'), 120000, cluster);
      process.kill(pid, 'SIGKILL');
      // Meanwhile: the unsharded extraction to compare with, and a shard of another image size.
      const other = path.join(root, 'other');
      const baseline = tlkitLater(['extract', '--base', SHARED_MOBILENET, '--data', data, '--out', whole]);
      const foreign = tlkitLater([
        'extract',
        '--base',
        SHARED_MOBILENET,
        '--data',
        data,
        '--out',
        other,
        '--image-size',
        '96',
        '--shard',
        '3/4',
      ]);
      assert.deepEqual(await jobEnded(cluster, `${array}_1`, 60000), { state: 'FAILED', exitCode: '0:9' });
      assert.ok(!fs.existsSync(path.join(features, 'shard-1-of-4')), 'the killed shard was not published');
      for (const k of [0, 2, 3]) assert.equal((await jobEnded(cluster, `${array}_${k}`, 180000)).state, 'COMPLETED');

      // The dependent merge runs once every task has ended, and names the missing shard and its command.
      assert.deepEqual(await jobEnded(cluster, merge, 120000), { state: 'FAILED', exitCode: '2:0' });
      const mergeLog = fs.readFileSync(path.join(logs, `merge-train-${merge}.out`), 'utf8');
      assert.match(mergeLog, /1 of 4 shards cannot be merged: shard 1 \(.*shard-1-of-4\) is missing/);
      assert.match(mergeLog, /tlkit extract .*--shard 1\/4/);
      assert.ok(!fs.existsSync(path.join(features, 'manifest.json')), 'no merged cache');

      // Only task 1 again (scontrol requeue keeps its array environment), then the merge and training after it.
      cluster.run('scontrol', ['requeue', `${array}_1`]);
      cluster.run('scontrol', ['update', `jobid=${array}_1`, 'StartTime=now']);
      const again = cluster
        .run(
          'sbatch',
          [
            '--parsable',
            '--export=ALL',
            '--cpus-per-task=1',
            '--mem=1G',
            `--dependency=afterok:${array}_1`,
            `--output=${logs}/merge-train-%j.out`,
            path.join(repoRoot, 'deploy/slurm/merge-train.sbatch'),
          ],
          env,
        )
        .trim();
      const finished = await jobEnded(cluster, again, 240000);
      const againLog = fs.readFileSync(path.join(logs, `merge-train-${again}.out`), 'utf8');
      assert.deepEqual(finished, { state: 'COMPLETED', exitCode: '0:0' }, againLog);
      const unsharded = await baseline;
      assert.equal(unsharded.status, 0, unsharded.stderr);
      assert.deepEqual(cache(features), cache(whole));
      assert.deepEqual(
        fs.readdirSync(features).filter((e) => e.startsWith('.shard')),
        [],
        'the killed attempt is cleaned up',
      );
      // train read the merged cache as its own: it extracted nothing.
      const run = JSON.parse(fs.readFileSync(path.join(root, 'run', 'meta.json'), 'utf8'));
      assert.equal(run.timings.extractImages, 0);

      // A shard of another image size in the set: refused, named, with the command that remakes it.
      const made = await foreign;
      assert.equal(made.status, 0, made.stderr);
      fs.rmSync(path.join(features, 'shard-3-of-4'), { recursive: true });
      fs.renameSync(path.join(other, 'shard-3-of-4'), path.join(features, 'shard-3-of-4'));
      const refused = tlkit(['merge', features]);
      assert.equal(refused.status, 2, refused.stderr);
      assert.match(refused.stderr, /shard 3 \(.*shard-3-of-4\) has image size 96x96 \(the others: 224x224\)\. It is refused/);
      assert.match(refused.stderr, /--shard 3\/4/);
    } finally {
      await cluster.stop();
    }
    // Kept when the test fails (the daemons' logs, the shards); about 100 MB otherwise.
    fs.rmSync(root, { recursive: true, force: true });
  }),
);
