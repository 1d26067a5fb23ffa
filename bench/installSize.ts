/**
 * The size of tlkit's production install, beside the install before it was trimmed,
 * measured in the same run: `npm pack` of this checkout (dist/ as built), then in an
 * empty project `npm ci --omit=dev` of the tarball, offline from the npm cache, with
 * the production entries of a lockfile (this checkout's; for the baseline, the one of
 * commit --baseline-rev with the same tarball), and `du -sb node_modules`. MB = 10^6 bytes
 * (MiB beside it). The issue that asked for the trim quoted "about 650 MB" for the baseline.
 * The largest packages, what the baseline had that is gone, onnxruntime-node's native
 * binaries by platform, and every install script left in the tree are listed.
 *
 *   node --import tsx bench/installSize.ts [--baseline-rev 785e182] [--top 12]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bytesUnder, installProbe, packageSizes, packTarball, REPO, writeProbeProject } from '../src/testing/packProbe.js';
import { numberArg, stringArg } from './args.js';

// The last commit whose production tree had the @tensorflow/tfjs union package and nsfwjs (with its peer dependencies).
const baselineRev = stringArg('--baseline-rev', '785e182');
const top = numberArg('--top', 12);
const QUOTED_BASELINE_MB = 650;
const TARGET_MB = 450;

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-install-size-'));
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB (${(bytes / 2 ** 20).toFixed(1)} MiB)`;
const gitShow = (file: string) => JSON.parse(execFileSync('git', ['show', `${baselineRev}:${file}`], { cwd: REPO, encoding: 'utf8' }));

/** Install the tarball into a fresh probe folder (with the given lockfile's production tree) and measure it. */
function measure(name: string, tarball: string, from?: Parameters<typeof writeProbeProject>[2]) {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(root, tarball), path.join(dir, tarball));
  writeProbeProject(dir, tarball, from);
  const t0 = performance.now();
  installProbe(dir);
  const seconds = (performance.now() - t0) / 1000;
  return { dir, seconds, bytes: bytesUnder(path.join(dir, 'node_modules')), sizes: packageSizes(dir) };
}

/** Packages of the tree with an install script (npm runs them unless --ignore-scripts). */
function installScripts(dir: string): string[] {
  const found: string[] = [];
  const walk = (modules: string) => {
    if (!fs.existsSync(modules)) return;
    for (const entry of fs.readdirSync(modules)) {
      if (entry.startsWith('.')) continue;
      const names = entry.startsWith('@') ? fs.readdirSync(path.join(modules, entry)).map((n) => `${entry}/${n}`) : [entry];
      for (const name of names) {
        const pkgFile = path.join(modules, name, 'package.json');
        if (!fs.existsSync(pkgFile)) continue;
        const scripts = (JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
        for (const hook of ['preinstall', 'install', 'postinstall']) if (scripts[hook]) found.push(`${name} ${hook}: ${scripts[hook]}`);
        walk(path.join(modules, name, 'node_modules'));
      }
    }
  };
  walk(path.join(dir, 'node_modules'));
  return found;
}

try {
  const { filename } = packTarball(root);
  const tarballBytes = fs.statSync(path.join(root, filename)).size;
  const now = measure('now', filename);
  const baseline = measure('baseline', filename, { lock: gitShow('package-lock.json'), pkg: gitShow('package.json') });

  console.log('tlkit production install: npm pack, then npm ci --omit=dev of the tarball (offline, npm cache), du -sb node_modules');
  console.log(`  tarball ${filename}: ${(tarballBytes / 1e6).toFixed(1)} MB`);
  console.log(`  now:      ${mb(now.bytes)}, ${now.sizes.length} packages (npm ci ${now.seconds.toFixed(0)} s)`);
  console.log(
    `  baseline: ${mb(baseline.bytes)}, ${baseline.sizes.length} packages (lockfile of ${baselineRev}, same tarball; the issue quoted ${QUOTED_BASELINE_MB} MB)`,
  );
  console.log(
    `  now / baseline: ${(now.bytes / baseline.bytes).toFixed(3)} (target ${TARGET_MB} MB of ${QUOTED_BASELINE_MB} MB: ${(TARGET_MB / QUOTED_BASELINE_MB).toFixed(3)}); now is ${now.bytes <= TARGET_MB * 1e6 ? 'within' : 'above'} ${TARGET_MB} MB`,
  );
  console.log(`\nlargest packages now (own files, without nested node_modules):`);
  for (const p of now.sizes.slice(0, top)) console.log(`  ${(p.bytes / 1e6).toFixed(1).padStart(7)} MB  ${p.name}`);
  const kept = new Set(now.sizes.map((p) => p.name));
  const gone = baseline.sizes.filter((p) => !kept.has(p.name));
  const goneBytes = gone.reduce((sum, p) => sum + p.bytes, 0);
  console.log(`\nin the baseline only: ${gone.length} packages, ${(goneBytes / 1e6).toFixed(1)} MB; the largest:`);
  for (const p of gone.slice(0, top)) console.log(`  ${(p.bytes / 1e6).toFixed(1).padStart(7)} MB  ${p.name}`);
  const ortBin = path.join(now.dir, 'node_modules/onnxruntime-node/bin/napi-v6');
  if (fs.existsSync(ortBin)) {
    // npm installs one package for every platform: its native libraries for all of them come along.
    console.log('\nonnxruntime-node native binaries, by platform (npm cannot leave out the ones for other machines):');
    for (const platform of fs.readdirSync(ortBin))
      for (const arch of fs.readdirSync(path.join(ortBin, platform)))
        console.log(`  ${(bytesUnder(path.join(ortBin, platform, arch)) / 1e6).toFixed(1).padStart(7)} MB  ${platform}/${arch}`);
  }
  console.log('\ninstall scripts in the tree now (this measurement ran none):');
  for (const s of installScripts(now.dir)) console.log(`  ${s}`);
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
