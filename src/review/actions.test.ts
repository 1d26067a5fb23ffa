import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveDataDir, listImageFiles } from '../data/splits.js';
import { readLabelsTable } from '../data/labelsTable.js';
import { tempDir } from '../testing/images.js';
import { ReviewStore } from './actions.js';
import { sha256Of } from './execute.js';
import { journalPath, journalState, readJournal } from './journal.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** A folder of class folders per split; each file's bytes are its own (the actions never decode). */
function makeData(root: string, layout: 'splits' | 'classes' = 'splits'): string {
  const splits = layout === 'splits' ? ['train', 'validation'] : ['.'];
  for (const s of splits)
    for (const c of ['cats', 'dogs'])
      for (let i = 0; i < 3; i++) {
        const dir = path.join(root, s, c);
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, `${c}.${i}.jpg`), `${s}/${c}/${i}: ${'x'.repeat(i * 7)}`);
      }
  return root;
}

/** Every file under `root` (journal aside) with its bytes, by relative path. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.name !== '.tlkit-review.jsonl') out.set(path.relative(root, f), fs.readFileSync(f).toString('hex'));
    }
  };
  walk(root);
  return out;
}

test('relabel moves the file to the other class folder, journaled with its sha256; undo brings back the same bytes; nothing deleted', async () => {
  const data = makeData(tempDir());
  const before = snapshot(data);
  const store = await ReviewStore.open(data);
  const sha = sha256Of(path.join(data, 'train/cats/cats.1.jpg'));
  const done = await store.relabel('train/cats/cats.1.jpg', 'dogs');
  assert.equal(done.to, 'train/dogs/cats.1.jpg');
  assert.equal(fs.existsSync(path.join(data, 'train/cats/cats.1.jpg')), false);
  assert.equal(sha256Of(path.join(data, 'train/dogs/cats.1.jpg')), sha);
  const lines = readJournal(journalPath(data));
  assert.deepEqual(
    lines.map((l) => l.phase),
    ['intent', 'done'],
  );
  assert.equal(lines[0].phase === 'intent' && lines[0].sha256, sha);
  await assert.rejects(store.relabel('train/dogs/cats.1.jpg', 'birds'), /not a class/);
  await assert.rejects(store.relabel('../outside.jpg', 'dogs'), /not inside the data folder/);

  await store.undo();
  assert.deepEqual(snapshot(data), before, 'every file back where it was, byte for byte');
  const state = journalState(readJournal(journalPath(data)));
  assert.equal(state.done.length, 2);
  assert.ok(state.undone.has(done.id));
  await assert.rejects(store.undo(done.id), /undone already/);
});

test('quarantine moves into _quarantine/<path>, which no listing reads as a class; check hides nothing on disk; undo of each', async () => {
  const data = makeData(tempDir(), 'classes');
  const before = snapshot(data);
  const store = await ReviewStore.open(data);
  await store.quarantine('dogs/dogs.2.jpg');
  assert.ok(fs.existsSync(path.join(data, '_quarantine/dogs/dogs.2.jpg')));
  const d = resolveDataDir(data);
  assert.deepEqual(d.classNames, ['cats', 'dogs'], '_quarantine is not a class');
  assert.equal(listImageFiles(data).length, 5, 'the quarantined image is not listed');
  await store.check('cats/cats.0.jpg');
  assert.deepEqual([...store.checked().keys()], ['cats/cats.0.jpg']);
  await store.undo(); // the check
  assert.equal(store.checked().size, 0);
  await store.undo(); // the quarantine
  assert.deepEqual(snapshot(data).get('dogs/dogs.2.jpg'), before.get('dogs/dogs.2.jpg'));
  assert.equal(fs.existsSync(path.join(data, '_quarantine/dogs/dogs.2.jpg')), false);
});

test('a table run: relabel rewrites only its row, quarantine removes the row with the file; undo restores the table byte for byte', async () => {
  const data = tempDir();
  for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(data, `img${i}.png`), `image ${i}`);
  const csv = 'id,label,is_valid\r\nimg0,cat,false\r\n"img1","dog",false\r\nimg2,cat,true\r\nimg3,dog,true\r\n';
  const table = path.join(data, 'labels.csv');
  fs.writeFileSync(table, csv);
  const store = await ReviewStore.open(data, { file: table, columns: { file: 'id', label: 'label' } });
  await store.relabel('img1.png', 'cat');
  assert.equal(fs.readFileSync(table, 'utf8'), csv.replace('"img1","dog"', 'img1,cat'));
  assert.deepEqual(
    readLabelsTable(data, { labels: 'labels.csv' }).rows.map((r) => r.labels[0]),
    ['cat', 'cat', 'cat', 'dog'],
  );
  await store.undo();
  assert.equal(fs.readFileSync(table, 'utf8'), csv);
  await store.quarantine('img2.png');
  assert.equal(fs.readFileSync(table, 'utf8'), csv.replace('img2,cat,true\r\n', ''));
  assert.ok(fs.existsSync(path.join(data, '_quarantine/img2.png')));
  assert.equal(readLabelsTable(data, { labels: 'labels.csv' }).unlisted.length, 0, 'the quarantined image is not an unlisted image');
  await store.undo();
  assert.equal(fs.readFileSync(table, 'utf8'), csv);
  assert.equal(fs.readFileSync(path.join(data, 'img2.png'), 'utf8'), 'image 2');
});

test('apply replays another copy journal: the same result; applying it again changes nothing', async () => {
  const a = makeData(tempDir());
  const b = tempDir();
  fs.cpSync(a, b, { recursive: true });
  const store = await ReviewStore.open(a);
  await store.relabel('train/cats/cats.0.jpg', 'dogs');
  await store.quarantine('validation/dogs/dogs.1.jpg');
  await store.check('train/dogs/dogs.2.jpg');
  await store.relabel('train/dogs/dogs.0.jpg', 'cats');
  await store.undo();
  const copy = await ReviewStore.open(b);
  const first = await copy.apply(journalPath(a));
  assert.deepEqual(
    first.map((r) => r.outcome),
    ['applied', 'applied', 'applied', 'applied', 'applied'],
  );
  assert.deepEqual(snapshot(b), snapshot(a));
  assert.deepEqual([...copy.checked()], [...store.checked()]);
  assert.equal(copy.state().undone.size, 1, 'the replayed undo reverses the replayed relabel');
  const lines = fs.readFileSync(journalPath(b), 'utf8');
  const second = await copy.apply(journalPath(a));
  assert.ok(
    second.every((r) => r.outcome === 'already'),
    JSON.stringify(second),
  );
  assert.equal(fs.readFileSync(journalPath(b), 'utf8'), lines, 'nothing appended the second time');
});

/** Run a relabel in a child process that kills itself (SIGKILL) at `at`. */
function killedRelabel(data: string, at: string): void {
  const script = `import { ReviewStore } from ${JSON.stringify(path.join(here, 'actions.ts'))};
const s = await ReviewStore.open(${JSON.stringify(data)});
await s.relabel('train/cats/cats.2.jpg', 'dogs');`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, TLKIT_REVIEW_TEST_CRASH: at },
    encoding: 'utf8',
  });
  assert.equal(r.signal, 'SIGKILL', `the child died at ${at}: ${r.stderr}`);
}

for (const [at, where, outcome] of [
  ['after-intent', 'train/cats/cats.2.jpg', 'abandoned'],
  ['after-rename', 'train/dogs/cats.2.jpg', 'done'],
] as const) {
  test(`a process killed ${at.replace('-', ' ')} leaves the file in one place; recovery makes the journal say where (${outcome})`, async () => {
    const data = makeData(tempDir());
    const bytes = fs.readFileSync(path.join(data, 'train/cats/cats.2.jpg'));
    killedRelabel(data, at);
    const places = ['train/cats/cats.2.jpg', 'train/dogs/cats.2.jpg'].filter((f) => fs.existsSync(path.join(data, f)));
    assert.deepEqual(places, [where], 'exactly one place');
    assert.deepEqual(fs.readFileSync(path.join(data, where)), bytes);
    assert.equal(journalState(readJournal(journalPath(data))).open.length, 1, 'the intent is open');
    const store = await ReviewStore.open(data);
    assert.deepEqual(
      store.recovered.map((r) => r.outcome),
      [outcome],
    );
    const state = store.state();
    assert.equal(state.open.length, 0);
    assert.equal(state.done.length, outcome === 'done' ? 1 : 0);
    if (outcome === 'done') {
      await store.undo();
      assert.deepEqual(fs.readFileSync(path.join(data, 'train/cats/cats.2.jpg')), bytes);
    }
    assert.equal((await ReviewStore.open(data)).recovered.length, 0, 'recovery runs once');
  });
}

test('another process in the middle of an action: opening the store waits for it instead of settling its intent, and actions take turns', async () => {
  const data = makeData(tempDir());
  const journal = journalPath(data);
  const script = `import { ReviewStore } from ${JSON.stringify(path.join(here, 'actions.ts'))};
const s = await ReviewStore.open(${JSON.stringify(data)});
await s.relabel('train/cats/cats.2.jpg', 'dogs');`;
  // The child holds its action open for a second between its intent and its move.
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, TLKIT_REVIEW_TEST_PAUSE_MS: '1000' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  for (let i = 0; i < 600 && !(fs.existsSync(journal) && readJournal(journal).length > 0); i++) await sleep(50);
  assert.deepEqual(
    readJournal(journal).map((l) => l.phase),
    ['intent'],
    'the child is between its intent and its move',
  );
  const store = await ReviewStore.open(data);
  assert.deepEqual(store.recovered, [], "the child's action was not taken for a crash");
  await store.relabel('train/cats/cats.1.jpg', 'dogs');
  assert.equal(await exited, 0, stderr);
  assert.deepEqual(
    readJournal(journal).map((l) => l.phase),
    ['intent', 'done', 'intent', 'done'],
  );
  for (const f of ['train/dogs/cats.2.jpg', 'train/dogs/cats.1.jpg']) assert.ok(fs.existsSync(path.join(data, f)), f);
  assert.equal(fs.existsSync(`${journal}.lock`), false, 'the lock is gone');

  // Within one process (the UI serves requests at once) too: each action's lines stay together.
  process.env.TLKIT_REVIEW_TEST_PAUSE_MS = '100';
  try {
    await Promise.all([store.relabel('train/cats/cats.0.jpg', 'dogs'), store.quarantine('validation/dogs/dogs.0.jpg')]);
  } finally {
    delete process.env.TLKIT_REVIEW_TEST_PAUSE_MS;
  }
  const lines = readJournal(journal).slice(4);
  assert.deepEqual(
    lines.map((l) => l.phase),
    ['intent', 'done', 'intent', 'done'],
  );
  assert.equal(lines[0].id, lines[1].id);
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
