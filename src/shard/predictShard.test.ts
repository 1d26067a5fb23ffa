import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyRun } from '../testing/tinyRun.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function tlkit(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [path.join(repoRoot, 'bin/tlkit.js'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

let data: string;
let run: string;
before(async () => {
  ({ data, run } = await makeTinyRun(1));
});

test('predict --shard: three shards merge into the csv one unsharded predict prints, rows in the input order; a retried shard does nothing; a missing one is named', () => {
  const inputs = [path.join(data, 'test'), path.join(data, 'validation')];
  const whole = tlkit(['predict', '--model', run, ...inputs, '--format', 'csv', '--top-k', '1']);
  assert.equal(whole.status, 0, whole.stderr);
  const out = path.join(path.dirname(run), 'predictions');
  for (let k = 0; k < 3; k++) {
    // Cloud Run's variables drive --shard auto here.
    const r = tlkit(['predict', '--model', run, ...inputs, '--format', 'csv', '--top-k', '1', '--shard', 'auto', '--out', out], {
      CLOUD_RUN_TASK_INDEX: String(k),
      CLOUD_RUN_TASK_COUNT: '3',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '', 'a shard writes its rows to its folder, not to stdout');
  }
  const rows = [0, 1, 2].map(
    (k) =>
      fs
        .readFileSync(path.join(out, `shard-${k}-of-3`, 'predictions.ndjson'), 'utf8')
        .trim()
        .split('\n').length,
  );
  assert.equal(
    rows.reduce((a, b) => a + b),
    whole.stdout.trim().split('\n').length - 1,
  );
  assert.ok(rows.every((n) => n > 0));
  const retried = tlkit(['predict', '--model', run, ...inputs, '--format', 'csv', '--top-k', '1', '--shard', '1/3', '--out', out]);
  assert.equal(retried.status, 0, retried.stderr);
  assert.match(retried.stderr, /already finished/);

  const merged = tlkit(['merge', out]);
  assert.equal(merged.status, 0, merged.stderr);
  assert.equal(fs.readFileSync(path.join(out, 'predictions.csv'), 'utf8'), whole.stdout);

  fs.rmSync(path.join(out, 'shard-2-of-3'), { recursive: true });
  const missing = tlkit(['merge', out]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /shard 2 \(.*shard-2-of-3\).*tlkit predict .*--shard 2\/3/s);
});

test('predict --shard needs --out, and --out without --shard is refused', () => {
  const a = tlkit(['predict', '--model', run, path.join(data, 'test'), '--shard', '0/2']);
  assert.equal(a.status, 2);
  assert.match(a.stderr, /--shard needs --out FOLDER/);
  const b = tlkit(['predict', '--model', run, path.join(data, 'test'), '--out', path.join(data, 'x')]);
  assert.equal(b.status, 2);
  assert.match(b.stderr, /--out goes with --shard/);
});
