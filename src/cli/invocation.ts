import fs from 'node:fs';
import path from 'node:path';

/**
 * How to run tlkit again, as this process was started: `tlkit` when that name on the PATH
 * is this very CLI (after `npm link`, or installed), else `node <its bin/tlkit.js>`,
 * relative to the working directory when inside it (`node bin/tlkit.js` in the repository).
 */
export function tlkitCommand(
  script: string | undefined = process.argv[1],
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): string {
  if (!script) return 'tlkit';
  const real = realpath(script);
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, 'tlkit');
    if (real !== undefined && realpath(candidate) === real) return 'tlkit';
  }
  const relative = path.relative(cwd, script);
  const shown = relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : script;
  return `node ${/\s/.test(shown) ? `"${shown}"` : shown}`;
}

function realpath(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}
