// `npm run docs:options`: write docs/options.md from the training options' declaration.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { optionsTable } from '../src/workflows/optionsDoc.js';

const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'options.md');
fs.writeFileSync(file, optionsTable());
process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
