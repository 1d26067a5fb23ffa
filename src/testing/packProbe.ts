import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * tlkit as a user installs it: `npm pack` of this checkout, then `npm ci --omit=dev` of an
 * empty project that depends on the tarball, offline from the npm cache. Used by the
 * package test (the install runs tlkit) and bench/installSize.ts (how big it is).
 */

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** npm without prompts or network chatter; onnxruntime-node's install script would fetch its CUDA provider from NuGet. */
export const NPM_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  ONNXRUNTIME_NODE_INSTALL: 'skip',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};

interface Lockfile {
  packages: Record<string, { dev?: boolean }>;
}

interface PackageJson {
  version: string;
  license: string;
  dependencies: Record<string, string>;
  bin: unknown;
  engines: unknown;
}

/** `npm pack` of the checkout into `dir` (dist/ as built: --ignore-scripts skips `prepare`): the tarball's name and files. */
export function packTarball(dir: string): { filename: string; files: string[] } {
  const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
    cwd: REPO,
    encoding: 'utf8',
    env: NPM_ENV,
  });
  if (packed.status !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  return { filename: info.filename, files: info.files.map((f) => f.path) };
}

/**
 * An empty project in `dir` that depends on the tarball, with a lockfile of the production
 * entries of tlkit's lockfile (by default the checkout's; another commit's for a baseline),
 * so that `npm ci --offline` installs from the npm cache alone (no registry metadata
 * needed) exactly what a user's install resolves.
 */
export function writeProbeProject(
  dir: string,
  tarball: string,
  from: { lock: Lockfile; pkg: PackageJson } = {
    lock: JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')),
    pkg: JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')),
  },
): void {
  const { lock, pkg } = from;
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

/** `npm ci --omit=dev` of the probe project, offline; --ignore-scripts: no install script runs (none is needed). */
export function installProbe(dir: string): void {
  const install = spawnSync('npm', ['ci', '--omit=dev', '--offline', '--ignore-scripts'], { cwd: dir, encoding: 'utf8', env: NPM_ENV });
  if (install.status !== 0) throw new Error(`npm ci failed: ${install.stdout}${install.stderr}`);
}

/** Bytes under `dir` (files' sizes, as `du -sb` counts them). */
export function bytesUnder(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

/** Every installed package of the probe (nested ones too) with its own bytes (without its node_modules/), largest first. */
export function packageSizes(dir: string): Array<{ name: string; bytes: number }> {
  const sizes: Array<{ name: string; bytes: number }> = [];
  const walk = (modules: string, prefix: string) => {
    if (!fs.existsSync(modules)) return;
    for (const entry of fs.readdirSync(modules)) {
      if (entry.startsWith('.')) continue;
      const names = entry.startsWith('@') ? fs.readdirSync(path.join(modules, entry)).map((n) => `${entry}/${n}`) : [entry];
      for (const name of names) {
        const root = path.join(modules, name);
        const nested = path.join(root, 'node_modules');
        const bytes = bytesUnder(root) - (fs.existsSync(nested) ? bytesUnder(nested) : 0);
        sizes.push({ name: `${prefix}${name}`, bytes });
        walk(nested, `${prefix}${name} > `);
      }
    }
  };
  walk(path.join(dir, 'node_modules'), '');
  return sizes.sort((a, b) => b.bytes - a.bytes);
}
