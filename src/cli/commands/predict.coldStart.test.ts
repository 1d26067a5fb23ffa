import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyRun } from '../../testing/tinyRun.js';

// `tlkit predict` of a photo on a run whose graph is cached: the prediction comes from the
// cached graph without loading tfjs (the whole start-up cost the cache removes), and is
// the same as the first, uncached predict's.

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('the second predict reads the cached run graph and never loads tfjs; the rows are the same', async () => {
  const { data, run } = await makeTinyRun(2);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-predict-cold-'));
  const hook = path.join(root, 'report-tfjs.mjs');
  // tfjs-core registers its engine on the global object when it is imported.
  fs.writeFileSync(hook, "process.on('exit', () => process.stderr.write('tfjs loaded: ' + ('_tfengine' in globalThis) + '\\n'));\n");
  const photo = path.join(data, 'test', 'dogs', fs.readdirSync(path.join(data, 'test', 'dogs')).sort()[0]);
  const predict = () =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', '--import', hook, path.join(repo, 'src/cli/main.ts'), 'predict', '--model', run, photo],
      {
        encoding: 'utf8',
        cwd: repo,
        env: { ...process.env, TLKIT_GRAPH_CACHE: path.join(root, 'graphs') },
      },
    );
  const first = predict();
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, /tfjs loaded: true/, 'the first predict exports the run with tfjs');
  const second = predict();
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stderr, /tfjs loaded: false/);
  assert.equal(second.stdout, first.stdout);
  assert.match(second.stdout, /^.*\t(cats|dogs)\t/);
});
