import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// The package's entry point is the compiled dist/ (built by `prepare`, and by
// scripts/test.sh before the tests): import it with plain Node, no tsx, so a source file
// that only works under tsx fails here.
test('the library is plain ESM that Node imports without tsx, exporting exactly the documented API', () => {
  const entry = path.join(repo, 'dist', 'index.js');
  assert.ok(fs.existsSync(entry), 'dist/ is built');
  const probe = `const m = await import(${JSON.stringify(entry)});
await m.initBackend();
const model = await m.vgg16({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] });
console.log(JSON.stringify({ exports: Object.keys(m).sort(), params: model.countParams() }));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', cwd: os.tmpdir() });
  assert.equal(run.status, 0, run.stderr);
  const r = JSON.parse(run.stdout.trim().split('\n').pop() as string);
  assert.equal(r.params, 14714688);
  // Exactly the API the README documents: no engine internals at the root.
  assert.deepEqual(r.exports, [
    'CSVLogger',
    'Classifier',
    'EarlyStopping',
    'FAMILIES',
    'FAMILY_NAMES',
    'HistoryRecorder',
    'ModelCheckpoint',
    'ProgressLogger',
    'RandomFlip',
    'RandomRotation',
    'RandomZoom',
    'TRAIN_DEFAULTS',
    'TerminateOnNaN',
    'checkDataset',
    'convnextTiny',
    'efficientnetB0',
    'evaluateRun',
    'extractFeatures',
    'formatCheckReport',
    'formatSummary',
    'imageDatasetFromDirectory',
    'initBackend',
    'loadBase',
    'loadClassifier',
    'loadOnnxFeatureBase',
    'loadSplitFeatures',
    'lrFind',
    'mapFeatures',
    'mobilenet',
    'mobilenetArchitecture',
    'mobilenetV2',
    'mobilenetV2Architecture',
    'modelSummary',
    'preprocessInput',
    'resnet50',
    'summarizeModel',
    'train',
    'vgg16',
    'vgg16Architecture',
    'writeDatasetMap',
  ]);
});
