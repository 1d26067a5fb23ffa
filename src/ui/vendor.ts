import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The libraries the page loads, served from node_modules (the page reaches no CDN):
 * TensorFlow.js (core, the cpu backend and layers: the packages tlkit trains with, loaded
 * in this order by classic scripts, each adding itself to the global `tf`) and uPlot for
 * the live curves.
 */
export function vendorFiles(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const root = (pkg: string) => path.dirname(require.resolve(`${pkg}/package.json`));
  // uplot's package.json is not in its exports map on every version: its main file sits in dist/.
  const uplotDist = path.dirname(require.resolve('uplot'));
  return {
    'tf-core.min.js': path.join(root('@tensorflow/tfjs-core'), 'dist/tf-core.min.js'),
    'tf-backend-cpu.min.js': path.join(root('@tensorflow/tfjs-backend-cpu'), 'dist/tf-backend-cpu.min.js'),
    'tf-layers.min.js': path.join(root('@tensorflow/tfjs-layers'), 'dist/tf-layers.min.js'),
    'uPlot.esm.js': path.join(uplotDist, 'uPlot.esm.js'),
    'uPlot.min.css': path.join(uplotDist, 'uPlot.min.css'),
  };
}
