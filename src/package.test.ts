import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * A lockfile for an empty project that depends on the packed tarball: the production
 * entries of tlkit's own lockfile, so that `npm ci --offline` installs from the npm
 * cache alone (no registry metadata needed) exactly what a user's install resolves.
 */
function writeProbeProject(dir: string, tarball: string): void {
  const lock = JSON.parse(fs.readFileSync(path.join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));
  const integrity = `sha512-${execFileSync('openssl', ['dgst', '-sha512', '-binary', path.join(dir, tarball)]).toString('base64')}`;
  const dependencies = { tlkit: `file:${tarball}` };
  const packages: Record<string, unknown> = { '': { name: 'probe', version: '1.0.0', dependencies } };
  for (const [key, entry] of Object.entries(lock.packages)) if (key.startsWith('node_modules/') && !entry.dev) packages[key] = entry;
  packages['node_modules/tlkit'] = {
    version: pkg.version,
    resolved: `file:${tarball}`,
    integrity,
    license: pkg.license,
    dependencies: pkg.dependencies,
    bin: pkg.bin,
    engines: pkg.engines,
  };
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'probe', version: '1.0.0', private: true, dependencies }));
  fs.writeFileSync(
    path.join(dir, 'package-lock.json'),
    JSON.stringify({ name: 'probe', version: '1.0.0', lockfileVersion: 3, requires: true, packages }),
  );
}

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
}, async () => {
  assert.ok(fs.existsSync(path.join(repo, 'dist/cli/main.js')), 'dist/ is built (scripts/test.sh builds it)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-pack-'));
  try {
    const env = {
      ...process.env,
      ONNXRUNTIME_NODE_INSTALL: 'skip',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    };
    // --ignore-scripts: dist/ is already built; `prepare` would only build it again.
    const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
      cwd: repo,
      encoding: 'utf8',
      env,
    });
    assert.equal(packed.status, 0, packed.stderr);
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = info.files.map((f) => f.path);
    assert.ok(files.includes('bin/tlkit.js') && files.includes('dist/cli/main.js') && files.includes('dist/index.d.ts'));
    assert.deepEqual(
      files.filter((f) => /\.test\.|testing\/|^src\//.test(f)),
      [],
      'no sources, tests or test fixtures in the package',
    );

    writeProbeProject(dir, info.filename);
    const install = spawnSync('npm', ['ci', '--offline', '--ignore-scripts'], { cwd: dir, encoding: 'utf8', env });
    assert.equal(install.status, 0, install.stdout + install.stderr);
    assert.ok(!fs.existsSync(path.join(dir, 'node_modules/tsx')), 'tsx is a development dependency only');

    // Both commands at once: they are independent, and the test's time is mostly waiting on them.
    const [summary, demo] = await Promise.all([
      run('npx', ['--no-install', 'tlkit', 'summary', 'vgg16'], dir, env),
      run('npx', ['--no-install', 'tlkit', 'demo', '--out', 'demo', '--images', '4', '--epochs', '1'], dir, env),
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
