// Imported lazily: loading h5wasm's module costs ~600 MB of RSS under tsx, which
// every command would otherwise pay even when no .h5 file is involved.
type H5wasm = typeof import('h5wasm/node').default;

let ready: Promise<H5wasm> | undefined;

/**
 * h5wasm, initialised once per process. HDF5's own error stack is turned into JS
 * exceptions instead of being printed to stderr, so a bad file gives one clean
 * error message and no diagnostic dump.
 */
export function h5(): Promise<H5wasm> {
  if (!ready) {
    ready = (async () => {
      const h5wasm = (await import('h5wasm/node')).default;
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
