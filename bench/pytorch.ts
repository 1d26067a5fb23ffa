/**
 * What the benches share to put PyTorch beside tlkit in the same run: Debian's
 * python3-torch (with libopenblas0-pthread, so that its dense layers use OpenBLAS as a
 * pip-installed PyTorch would use MKL), installed with apt-get when missing, and the
 * CPU's name and flags for the figures' context.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

/** Debian's interpreter (the one apt's python3-torch goes with), not a pyenv/venv python3 earlier on PATH. */
export const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function importable(modules: string[]): boolean {
  return spawnSync(PYTHON, ['-c', modules.map((m) => `import ${m}`).join('; ')], { stdio: 'ignore' }).status === 0;
}

/**
 * Debian's python3-torch + libopenblas0-pthread (+ `extra` Debian packages, e.g.
 * python3-pil for JPEG decoding), whose Python modules `modules` must import; a note
 * (and false) where they cannot be installed.
 */
export function ensureTorch(extra: { packages: string[]; modules: string[] } = { packages: [], modules: [] }): boolean {
  const modules = ['torch', 'numpy', ...extra.modules];
  if (importable(modules)) return true;
  const packages = ['python3-torch', 'python3-numpy', 'libopenblas0-pthread', ...extra.packages];
  const isRoot = process.getuid?.() === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) {
    console.log(
      `note: PyTorch is not installed and ${isRoot ? 'apt-get is missing' : 'this is not root'}; the PyTorch rows are skipped (apt-get install ${packages.join(' ')}).`,
    );
    return false;
  }
  console.log(`installing Debian ${packages.join(' ')} with apt-get (once)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  const update = spawnSync('apt-get', [...lock, 'update', '-qq'], { stdio: 'inherit', env });
  const install =
    update.status === 0
      ? spawnSync('apt-get', [...lock, 'install', '-y', '-qq', '--no-install-recommends', ...packages], { stdio: 'inherit', env })
      : update;
  if (install.status !== 0 || !importable(modules)) {
    console.log(`note: could not install ${packages.join(' ')} with apt-get (offline or no such package); the PyTorch rows are skipped.`);
    return false;
  }
  return true;
}

/** Run a Python script file with arguments; its last stdout line is JSON. */
export function runPythonJson<T>(script: string, args: string[]): T {
  const out = execFileSync(PYTHON, [script, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').pop() as string) as T;
}

/** The CPU flags that matter for these figures (AVX2, AVX-512, VNNI, AMX). */
export function cpuFlags(): string {
  try {
    const line = fs
      .readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    const flags = new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
    return ['avx', 'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16', 'amx_tile']
      .filter((f) => flags.has(f))
      .join(' ');
  } catch {
    return 'unknown';
  }
}

/** One line: cores, CPU model, flags, load average (figures under load are marked as such). */
export function machineLine(): string {
  return `machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}; flags: ${cpuFlags()}; load average ${os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')}`;
}
