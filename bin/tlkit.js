#!/usr/bin/env node
// The compiled CLI (dist/ is built by `npm install`/`npm ci` through `prepare`, or `npm run build`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('tlkit: dist/ is missing: run `npm run build` (or `npm install`) in the tlkit folder first.\n');
  process.exit(1);
}
await import(entry.href);
