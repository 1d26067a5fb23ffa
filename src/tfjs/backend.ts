import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

export type BackendName = 'wasm' | 'cpu';

let ready: Promise<BackendName> | undefined;

/**
 * Select the tfjs backend once per process. wasm (XNNPACK) is the default: it is
 * 10-30x faster than the pure-JS cpu backend. TLKIT_BACKEND=cpu overrides.
 */
export function initBackend(name: BackendName = (process.env.TLKIT_BACKEND as BackendName) || 'wasm'): Promise<BackendName> {
  if (!ready) {
    ready = (async () => {
      const ok = await tf.setBackend(name);
      if (!ok) throw new Error(`could not initialise the tfjs '${name}' backend`);
      await tf.ready();
      return name;
    })();
  }
  return ready;
}

export { tf };
