import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The TensorFlow.js an exported page runs on, taken from the packages tlkit itself trains
 * with (not the @tensorflow/tfjs union package, which would add its converter, data and
 * WebGL packages, 190 MB, to every install): core, the cpu and wasm backends and layers,
 * in the order the page loads them (each browser bundle adds itself to the global `tf`),
 * and the wasm backend's binaries (plain, SIMD, and SIMD with threads, which a browser
 * uses only on a cross-origin-isolated page).
 */
const FILES: ReadonlyArray<readonly [pkg: string, name: string]> = [
  ['@tensorflow/tfjs-core', 'tf-core.es2017.min.js'],
  ['@tensorflow/tfjs-backend-cpu', 'tf-backend-cpu.es2017.min.js'],
  ['@tensorflow/tfjs-backend-wasm', 'tf-backend-wasm.es2017.min.js'],
  ['@tensorflow/tfjs-layers', 'tf-layers.es2017.min.js'],
  ['@tensorflow/tfjs-backend-wasm', 'tfjs-backend-wasm.wasm'],
  ['@tensorflow/tfjs-backend-wasm', 'tfjs-backend-wasm-simd.wasm'],
  ['@tensorflow/tfjs-backend-wasm', 'tfjs-backend-wasm-threaded-simd.wasm'],
];

/** The scripts of the page, in loading order (core first). */
export const TFJS_SCRIPTS: readonly string[] = FILES.map(([, name]) => name).filter((name) => name.endsWith('.js'));

export interface TfjsFile {
  /** The file's name in the export's tfjs/ folder (as in its package's dist/). */
  name: string;
  /** Where it is installed. */
  file: string;
  pkg: string;
  version: string;
}

/** Every TensorFlow.js file an export carries, from the installed packages. */
export function tfjsFiles(): TfjsFile[] {
  const require = createRequire(import.meta.url);
  return FILES.map(([pkg, name]) => {
    const pkgJson = require.resolve(`${pkg}/package.json`);
    const { version } = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string };
    return { name, file: path.join(path.dirname(pkgJson), 'dist', name), pkg, version };
  });
}
