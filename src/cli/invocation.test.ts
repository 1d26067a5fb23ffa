import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tlkitCommand } from './invocation.js';

test('the command to run tlkit again: `tlkit` only when that name on the PATH is this CLI, else node bin/tlkit.js', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-invocation-'));
  const repo = path.join(root, 'repo');
  const script = path.join(repo, 'bin', 'tlkit.js');
  fs.mkdirSync(path.dirname(script), { recursive: true });
  fs.writeFileSync(script, '');
  const linked = path.join(root, 'global-bin');
  fs.mkdirSync(linked);
  // No `npm link`: nothing called tlkit on the PATH.
  assert.equal(tlkitCommand(script, { PATH: '/usr/bin' }, repo), 'node bin/tlkit.js');
  assert.equal(tlkitCommand(script, { PATH: '/usr/bin' }, root), 'node repo/bin/tlkit.js');
  assert.equal(tlkitCommand(script, { PATH: '' }, path.join(root, 'elsewhere')), `node ${script}`, 'outside the repository: its full path');
  // Another tlkit on the PATH is not this one.
  const other = path.join(root, 'other.js');
  fs.writeFileSync(other, '');
  fs.symlinkSync(other, path.join(linked, 'tlkit'));
  assert.equal(tlkitCommand(script, { PATH: linked }, repo), 'node bin/tlkit.js');
  // After `npm link`: PATH's tlkit is a link to this script (run as `tlkit`, or as node bin/tlkit.js).
  fs.rmSync(path.join(linked, 'tlkit'));
  fs.symlinkSync(script, path.join(linked, 'tlkit'));
  assert.equal(tlkitCommand(script, { PATH: `/usr/bin${path.delimiter}${linked}` }, repo), 'tlkit');
  assert.equal(tlkitCommand(path.join(linked, 'tlkit'), { PATH: linked }, repo), 'tlkit');
});
