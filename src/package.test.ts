import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bytesUnder, installProbe, NPM_ENV, packTarball, REPO as repo, writeProbeProject } from './testing/packProbe.js';

/** Run a command to its end: exit status and output. */
function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('npm pack gives a tarball that installs offline into an empty folder and runs `tlkit summary` and `tlkit demo`', {
  timeout: 300_000,
}, async (t) => {
  assert.ok(fs.existsSync(path.join(repo, 'dist/cli/main.js')), 'dist/ is built (scripts/test.sh builds it)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-pack-'));
  try {
    const { filename, files } = packTarball(dir);
    assert.ok(files.includes('bin/tlkit.js') && files.includes('dist/cli/main.js') && files.includes('dist/index.d.ts'));
    assert.ok(files.includes('models/nsfwjs-mobilenet_v2/model.min.js'), 'the nsfwjs MobileNetV2 (the demo base) ships with tlkit');
    assert.deepEqual(
      files.filter((f) => /\.test\.|testing\/|^src\//.test(f)),
      [],
      'no sources, tests or test fixtures in the package',
    );

    writeProbeProject(dir, filename);
    installProbe(dir);
    assert.ok(!fs.existsSync(path.join(dir, 'node_modules/tsx')), 'tsx is a development dependency only');
    // Only the tfjs packages tlkit uses: not the union package, its converter, data and WebGL packages (bench/installSize.ts measures the whole tree).
    for (const pkg of [
      '@tensorflow/tfjs',
      '@tensorflow/tfjs-converter',
      '@tensorflow/tfjs-data',
      '@tensorflow/tfjs-backend-webgl',
      'nsfwjs',
    ]) {
      assert.ok(!fs.existsSync(path.join(dir, 'node_modules', pkg)), `${pkg} is not installed in production`);
    }
    t.diagnostic(`production install: ${(bytesUnder(path.join(dir, 'node_modules')) / 1e6).toFixed(1)} MB`);

    // Both commands at once: they are independent, and the test's time is mostly waiting on them.
    const [summary, demo] = await Promise.all([
      run('npx', ['--no-install', 'tlkit', 'summary', 'vgg16'], dir, NPM_ENV),
      run('npx', ['--no-install', 'tlkit', 'demo', '--out', 'demo', '--images', '4', '--epochs', '1'], dir, NPM_ENV),
    ]);
    assert.equal(summary.status, 0, summary.stderr);
    assert.match(summary.stdout, /Total params: 14,714,688 \(56\.13 MB\)/);
    assert.equal(demo.status, 0, demo.stderr);
    assert.match(demo.stdout, /Report: .*report\.html/);
    assert.ok(fs.existsSync(path.join(dir, 'demo/run/model/model.json')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
