import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../testing/images.js';
import { waitForExit, waitForOutput } from '../../testing/processes.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], { encoding: 'utf8', timeout: 30_000 });

test('tlkit ui: bad --port and a missing --data folder are one-line errors (exit 2), before anything listens', () => {
  const port = cli('ui', '--port', '70000');
  assert.equal(port.status, 2);
  assert.match(port.stderr, /^tlkit: --port must be a whole number from 0 to 65535, got '70000'\. Pass e\.g\. --port 8080\.\n$/);
  const data = cli('ui', '--data', '/no/such/folder', '--runs', tempDir());
  assert.equal(data.status, 2);
  assert.match(data.stderr, /^tlkit: The data folder \/no\/such\/folder does not exist or is not a folder\./);
  assert.doesNotMatch(data.stderr, /\n\s+at /, 'no stack trace');
});

test('tlkit ui: prints the URL with its token, serves the page there, and stops on Ctrl-C (exit 0)', async () => {
  const child = spawn(process.execPath, [path.join(repo, 'bin/tlkit.js'), 'ui', '--runs', tempDir()], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Bounded: it prints the URL within a second or two; a URL that never comes fails the test.
  const url = (await waitForOutput(child, /tlkit ui: (\S+)/, 60_000))[1];
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{43}$/);
  const first = await fetch(url, { redirect: 'manual' });
  assert.equal(first.status, 303, 'the token URL sets the cookie and redirects to the page');
  const r = await fetch(new URL('/', url), { headers: { cookie: (first.headers.get('set-cookie') ?? '').split(';')[0] } });
  assert.equal(r.status, 200);
  assert.match(await r.text(), /<title>tlkit ui<\/title>/);
  child.kill('SIGINT');
  assert.equal(await waitForExit(child, 30_000), 0);
});
