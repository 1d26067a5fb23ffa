// The mosaic fixture: equal numbers of each pair, each photo once, from one split; labels
// that name what is in the picture; grayscale exactly where 'bw' says; tables a labels
// table reads as multi-label with the validation rows marked; the same seed, the same set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { readLabelsTable } from '../data/labelsTable.js';
import { tempDir } from './images.js';
import { MOSAIC_CLASSES, MOSAIC_DELIM, makeMosaics, type Mosaic } from './mosaics.js';

const COUNT = { train: 12, validation: 6, test: 7 };

/** The largest difference between two channels of any pixel (0 for a grayscale image). */
async function colourfulness(file: string): Promise<number> {
  const { data } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  let d = 0;
  for (let i = 0; i < data.length; i += 3) d = Math.max(d, Math.abs(data[i] - data[i + 1]), Math.abs(data[i + 1] - data[i + 2]));
  return d;
}

test('mosaics: two photos of one split side by side, labelled with the animals present and bw when grayscale', async () => {
  const dir = path.join(tempDir(), 'mosaics');
  const set = await makeMosaics({ out: dir, count: COUNT, size: 48, seed: 3 });
  assert.equal(set.mosaics.length, 25);
  const kindOf = (m: Mosaic) => m.sources.map((s) => (path.basename(s).startsWith('cat.') ? 'cat' : 'dog')).sort();
  for (const split of ['train', 'validation', 'test'] as const) {
    const ms = set.mosaics.filter((m) => m.split === split);
    assert.equal(ms.length, COUNT[split]);
    const kinds = ms.map((m) => kindOf(m).join('+'));
    const n = (k: string) => kinds.filter((x) => x === k).length;
    // Equal numbers, as near as the count allows.
    const counts = [n('cat+cat'), n('cat+dog'), n('dog+dog')];
    assert.equal(counts[0] + counts[1] + counts[2], COUNT[split]);
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${split}: ${counts}`);
    for (const m of ms) for (const s of m.sources) assert.ok(s.includes(`/${split}/`), `${m.file}: ${s} comes from ${split}`);
  }
  const sources = set.mosaics.flatMap((m) => m.sources);
  assert.equal(new Set(sources).size, sources.length, 'each photo once');

  for (const m of set.mosaics) {
    const animals = [...new Set(kindOf(m))];
    const bw = m.labels.includes('bw');
    assert.deepEqual(
      m.labels.filter((l) => l !== 'bw'),
      animals,
      `${m.file}: the animals of ${m.sources.join(', ')}`,
    );
    const meta = await sharp(path.join(dir, m.file)).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [96, 48, 'jpeg']);
    const c = await colourfulness(path.join(dir, m.file));
    assert.ok(bw ? c === 0 : c > 20, `${m.file}: bw ${bw}, channel difference ${c}`);
  }
  // A third of each kind of pair is grayscale.
  assert.equal(set.mosaics.filter((m) => m.split === 'train' && m.labels.includes('bw')).length, 4);

  // The tables, as a labels table reads them: train+validation in labels.csv, test apart.
  const table = readLabelsTable(dir, { labels: set.labels, labelDelim: MOSAIC_DELIM });
  assert.ok(table.multiLabel);
  assert.deepEqual(table.labelNames, [...MOSAIC_CLASSES]);
  assert.equal(table.columns.valid, 'is_valid');
  const byFile = new Map(set.mosaics.map((m) => [m.file, m]));
  assert.equal(table.rows.length, COUNT.train + COUNT.validation);
  for (const r of table.rows) {
    const m = byFile.get(r.name)!;
    assert.equal(r.valid, m.split === 'validation');
    assert.deepEqual(r.labels, m.labels);
    assert.equal(r.file, path.join(dir, m.file));
  }
  const test = readLabelsTable(dir, { labels: set.test, labelDelim: MOSAIC_DELIM });
  assert.deepEqual(
    test.rows.map((r) => r.name),
    set.mosaics.filter((m) => m.split === 'test').map((m) => m.file),
  );
});

test('mosaics: the same seed gives the same files; another seed other pairs; a set already written is reused', async () => {
  const root = tempDir();
  const a = await makeMosaics({ out: path.join(root, 'a'), count: COUNT, size: 32, seed: 5 });
  const b = await makeMosaics({ out: path.join(root, 'b'), count: COUNT, size: 32, seed: 5 });
  const c = await makeMosaics({ out: path.join(root, 'c'), count: COUNT, size: 32, seed: 6 });
  assert.deepEqual(b.mosaics, a.mosaics);
  for (const m of a.mosaics) assert.ok(fs.readFileSync(path.join(a.dir, m.file)).equals(fs.readFileSync(path.join(b.dir, m.file))), m.file);
  assert.equal(fs.readFileSync(a.labels, 'utf8'), fs.readFileSync(b.labels, 'utf8'));
  assert.notDeepEqual(
    c.mosaics.map((m) => m.sources),
    a.mosaics.map((m) => m.sources),
  );
  // Reused: a file written in between survives; other options rebuild.
  const marker = path.join(a.dir, a.mosaics[0].file);
  fs.writeFileSync(marker, 'kept');
  await makeMosaics({ out: a.dir, count: COUNT, size: 32, seed: 5 });
  assert.equal(fs.readFileSync(marker, 'utf8'), 'kept');
  await makeMosaics({ out: a.dir, count: COUNT, size: 32, seed: 6 });
  assert.notEqual(fs.readFileSync(marker, 'utf8'), 'kept');
  // Asking for more mosaics than the photos allow says so.
  await assert.rejects(
    makeMosaics({ out: path.join(root, 'd'), count: { train: 3001 } }),
    /3001 train mosaics need 3001 cat and 3001 dog photos; .*train has 1000 and 1000/,
  );
});
