import h5wasm from 'h5wasm/node';

let ready: Promise<typeof h5wasm> | undefined;

/**
 * h5wasm, initialised once per process. HDF5's own error stack is turned into JS
 * exceptions instead of being printed to stderr, so a bad file gives one clean
 * error message and no diagnostic dump.
 */
export function h5(): Promise<typeof h5wasm> {
  if (!ready) {
    ready = (async () => {
      const module = await h5wasm.ready;
      (module as unknown as { activate_throwing_error_handler(): number }).activate_throwing_error_handler();
      return h5wasm;
    })();
  }
  return ready;
}

/** The most telling line of an HDF5 error ("minor: File has been truncated"), or the first line. */
export function hdf5Reason(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const minors = [...text.matchAll(/minor:\s*(.+)/g)].map((m) => m[1].trim());
  const detail = [...text.matchAll(/\): ([^\n]+)/g)].map((m) => m[1].trim());
  if (minors.length > 0) {
    const last = detail.length > 0 ? detail[detail.length - 1] : '';
    return `${minors[minors.length - 1]}${last ? ` (${last})` : ''}`;
  }
  return text.split('\n')[0];
}
