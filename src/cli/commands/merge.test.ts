import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { linkedPhotoData, SHARED_MOBILENET } from '../../testing/linkedPhotos.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function tlkit(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [path.join(repoRoot, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
}

test('extract --shard from a Slurm array environment, then extract --merge with the same command line; merge refuses a folder without shards', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-cli-merge-'));
  const data = linkedPhotoData(path.join(root, 'data'), 3, ['train', 'validation']);
  const out = path.join(root, 'features');
  const command = ['extract', '--base', SHARED_MOBILENET, '--data', data, '--out', out, '--image-size', '32'];
  for (const id of ['5', '6']) {
    // An array numbered 5-6: shard = task id - SLURM_ARRAY_TASK_MIN.
    const r = tlkit([...command, '--shard', 'auto'], { SLURM_ARRAY_TASK_ID: id, SLURM_ARRAY_TASK_MIN: '5', SLURM_ARRAY_TASK_COUNT: '2' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`shard ${Number(id) - 5} of 2 \\(Slurm \\(SLURM_ARRAY_TASK_ID=${id}`));
  }
  assert.deepEqual(fs.readdirSync(out).sort(), ['shard-0-of-2', 'shard-1-of-2']);
  const merged = tlkit([...command, '--merge', '--json']);
  assert.equal(merged.status, 0, merged.stderr);
  const r = JSON.parse(merged.stdout);
  assert.deepEqual(
    r.splits.map((s: { split: string; count: number }) => [s.split, s.count]),
    [
      ['train', 6],
      ['validation', 6],
    ],
  );
  // The merged folder is what extract itself would have written: a second extract is a cache hit.
  const again = tlkit([...command, '--json']);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).cacheHit, true);

  const empty = tlkit(['merge', path.join(root, 'data')]);
  assert.equal(empty.status, 2);
  assert.match(empty.stderr, /holds no shard folders \(shard-K-of-N\)/);
  const noAuto = tlkit([...command, '--shards', '2']);
  assert.equal(noAuto.status, 2);
  assert.match(noAuto.stderr, /--shards N goes with --shard auto/);
});
