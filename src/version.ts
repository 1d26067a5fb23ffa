import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** tlkit's own version, from its package.json (the same file from src/ and dist/). */
export function tlkitVersion(): string {
  if (cached === undefined) {
    const file = new URL('../package.json', import.meta.url);
    cached = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return cached;
}
