// What a new user met on the command line: a typo answered with 70 lines of help, evaluate
// asking for the data folder the run already records, and --model advice that did not fit
// the folder given (a data folder, an export, the run's model/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyRun } from '../testing/tinyRun.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function tlkit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(repo, 'bin/tlkit.js'), ...args],
      { env: { ...process.env, TLKIT_BACKEND: 'cpu' } },
      (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('a misspelt command or option: the hint and one line on where help is, not the whole help', async () => {
  const [command, option, missing] = await Promise.all([
    tlkit('trian'),
    tlkit('train', '--data', 'd', '--base', 'vgg16', '--out', 'o', '--epoch', '3'),
    tlkit('evaluate'),
  ]);
  assert.equal(command.code, 2);
  assert.deepEqual(command.stderr.trim().split('\n'), [
    "error: unknown command 'trian'",
    '(Did you mean train?)',
    "(run 'tlkit --help' for the commands)",
  ]);
  assert.equal(option.code, 2);
  assert.deepEqual(option.stderr.trim().split('\n'), [
    "error: unknown option '--epoch'",
    '(Did you mean --epochs?)',
    "(run 'tlkit train --help' for its options)",
  ]);
  assert.equal(missing.code, 2);
  assert.deepEqual(missing.stderr.trim().split('\n'), [
    "error: required option '--model <run dir>' not specified",
    "(run 'tlkit evaluate --help' for its options)",
  ]);
});

test('predict --help says that --json prints one object a line and --format json one array', async () => {
  const help = (await tlkit('predict', '--help')).stdout.replace(/\s+/g, ' ');
  assert.match(help, /--json an alias of --format ndjson: one JSON object a line .* not an array \(for one JSON array: --format json\)/);
  assert.match(help, /json: one JSON array of those objects/);
});

test('evaluate without --data uses the test split of the data folder the run records, and says so; --model given the wrong folder says which to give', async () => {
  const { data, run } = await makeTinyRun(1);
  const root = path.dirname(run);
  // An export (metadata.json as tlkit export writes it), made where the page puts them: <run>/exports/<format>.
  const exported = path.join(run, 'exports', 'onnx');
  fs.mkdirSync(exported, { recursive: true });
  fs.writeFileSync(path.join(exported, 'metadata.json'), JSON.stringify({ exportedBy: 'tlkit', format: 'onnx', labels: ['cats', 'dogs'] }));
  const elsewhere = path.join(root, 'web-model');
  fs.mkdirSync(elsewhere);
  fs.writeFileSync(path.join(elsewhere, 'metadata.json'), JSON.stringify({ exportedBy: 'tlkit', format: 'tfjs' }));
  const [recorded, model, dataDir, anExport, anotherExport, empty] = await Promise.all([
    tlkit('evaluate', '--model', run, '--json'),
    tlkit('predict', '--model', path.join(run, 'model'), path.join(data, 'test')),
    tlkit('evaluate', '--model', data, '--data', data),
    tlkit('predict', '--model', exported, path.join(data, 'test')),
    tlkit('report', elsewhere),
    tlkit('evaluate', '--model', fs.mkdtempSync(path.join(root, 'empty-')), '--data', data),
  ]);
  assert.equal(recorded.code, 0, recorded.stderr);
  assert.equal((JSON.parse(recorded.stdout) as { n: number }).n, 16, 'the 16 test images');
  assert.match(
    recorded.stderr,
    new RegExp(`evaluating on ${path.join(data, 'test')}, the test split of the data folder the run was trained on`),
  );
  const said = (r: { code: number; stderr: string }) => {
    assert.equal(r.code, 2, r.stderr);
    assert.doesNotMatch(r.stderr, /Train into it/);
    return r.stderr;
  };
  assert.match(said(model), new RegExp(`model folder inside the run ${run}\\. Give the run folder itself: ${run}\\.`));
  assert.match(
    said(dataDir),
    /is a data folder \(images in class folders\), not a trained run\. Give the run folder .* a data folder goes to --data/,
  );
  assert.match(said(anExport), new RegExp(`is a tlkit export \\(format onnx\\).* it came from: ${run}\\.`));
  assert.match(said(anotherExport), /web-model is a tlkit export \(format tfjs\)/);
  assert.match(said(empty), /is not a tlkit run folder: it has no meta\.json/);
});
