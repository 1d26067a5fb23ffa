// PyTorch baselines for the benches: Debian's python3-torch (OpenBLAS), installed
// with apt-get when missing and this is root; the row is skipped (with a note) otherwise.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

/** Debian's interpreter (the one apt's python3-torch goes with), not a pyenv/venv python3 earlier on PATH. */
export const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function importable(modules: string[]): boolean {
  return spawnSync(PYTHON, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Debian's python3-torch with libopenblas0-pthread (plus `extra` Debian packages
 * providing `extraModules`, e.g. python3-pil for PIL); a note (and false) where they
 * cannot be installed.
 */
export function ensureTorch(extra: { packages: string[]; modules: string[] } = { packages: [], modules: [] }): boolean {
  const modules = ['torch', ...extra.modules];
  if (importable(modules)) return true;
  const isRoot = process.getuid?.() === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  const packages = ['python3-torch', 'python3-numpy', 'libopenblas0-pthread', ...extra.packages];
  if (!isRoot || !hasApt) {
    console.log(`note: PyTorch is not installed and ${isRoot ? 'apt-get is missing' : 'this is not root'}; the PyTorch row is skipped (apt-get install ${packages.join(' ')}).`);
    return false;
  }
  console.log(`installing Debian ${packages.join(' ')} with apt-get (once)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  const update = spawnSync('apt-get', [...lock, 'update', '-qq'], { stdio: 'inherit', env });
  const install = update.status === 0 ? spawnSync('apt-get', [...lock, 'install', '-y', '-qq', '--no-install-recommends', ...packages], { stdio: 'inherit', env }) : update;
  if (install.status !== 0 || !importable(modules)) {
    console.log('note: could not install python3-torch with apt-get (offline or no such package); the PyTorch row is skipped.');
    return false;
  }
  return true;
}

/** The SIMD flags of this CPU that matter for fp32 and int8 kernels. */
export function cpuFlags(): string {
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    const flags = new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
    return ['avx', 'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'amx_tile'].filter((f) => flags.has(f)).join(' ');
  } catch {
    return 'unknown';
  }
}
