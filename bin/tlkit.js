#!/usr/bin/env node
// The compiled CLI (dist/ is built by `npm install`/`npm ci` through `prepare`, or `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('tlkit: dist/ is missing: run `npm run build` (or `npm install`) in the tlkit folder first.\n');
  process.exit(1);
}
// predict and evaluate run in a child with glibc's huge pages on (see src/cli/hugePages.ts).
const args = process.argv.slice(2);
const { hugePagesEnv, relaunch } = await import('../dist/cli/hugePages.js');
const env = hugePagesEnv(args);
if (!env || !(await relaunch(fileURLToPath(entry), args, env))) await import(entry.href);
