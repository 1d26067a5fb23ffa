// `tlkit review` from the command line (the built CLI, dist/): the queue as text and JSON, an
// action and its undo, a path outside the data folder refused (exit 2), and --apply of another
// copy's journal, twice (the second time nothing is applied).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyRun } from '../../testing/tinyRun.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function tlkit(args: string[]) {
  return spawnSync(process.execPath, [path.join(repoRoot, 'bin/tlkit.js'), 'review', ...args], { encoding: 'utf8', cwd: repoRoot });
}

test('tlkit review: the queue, relabel and undo, a path outside refused, --apply idempotent', async () => {
  const { data, run } = await makeTinyRun(2);
  const copy = `${data}-copy`;
  fs.cpSync(data, copy, { recursive: true });

  const listed = tlkit([run, '--json', '--per-class', '2']);
  assert.equal(listed.status, 0, listed.stderr);
  const queue = JSON.parse(listed.stdout) as { items: Array<{ file: string; reasons: Array<{ kind: string }> }>; journal: string };
  assert.equal(queue.journal, path.join(data, '.tlkit-review.jsonl'));
  assert.ok(
    queue.items.some((i) => i.reasons.some((r) => r.kind === 'tiny')),
    'check-data finds the 16 px images tiny',
  );
  const text = tlkit([run, '--no-check-data']);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^Review queue of .* images? to look at/);

  const moved = tlkit([run, '--relabel', 'train/cats/cats.3.png', '--to', 'dogs']);
  assert.equal(moved.status, 0, moved.stderr);
  assert.match(moved.stdout, /relabel train\/cats\/cats\.3\.png -> train\/dogs\/cats\.3\.png/);
  assert.ok(fs.existsSync(path.join(data, 'train/dogs/cats.3.png')));
  const bytes = fs.readFileSync(path.join(copy, 'train/cats/cats.3.png'));
  const undone = tlkit([run, '--undo']);
  assert.equal(undone.status, 0, undone.stderr);
  assert.deepEqual(fs.readFileSync(path.join(data, 'train/cats/cats.3.png')), bytes);

  const outside = tlkit([run, '--quarantine', '../run/meta.json']);
  assert.equal(outside.status, 2);
  assert.match(outside.stderr, /not inside the data folder/);

  assert.equal(tlkit([run, '--quarantine', 'validation/dogs/dogs.1.png']).status, 0);
  assert.ok(fs.existsSync(path.join(data, '_quarantine/validation/dogs/dogs.1.png')));
  const journal = path.join(data, '.tlkit-review.jsonl');
  const first = tlkit([run, '--data', copy, '--apply', journal]);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /^3 applied, 0 already done, 0 skipped\./);
  assert.ok(fs.existsSync(path.join(copy, '_quarantine/validation/dogs/dogs.1.png')));
  const second = tlkit([run, '--data', copy, '--apply', journal, '--json']);
  assert.deepEqual(
    (JSON.parse(second.stdout) as Array<{ outcome: string }>).map((a) => a.outcome),
    ['already', 'already', 'already'],
  );
});
