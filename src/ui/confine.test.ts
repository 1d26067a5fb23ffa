// The confinement rule on its own: what reaches it when a request is not normalised first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../testing/images.js';
import { confinedFile } from './security.js';

test('confinedFile: a file inside is found; .., ., empty, encoded or absolute segments and symlinks out are 403; missing is 404', () => {
  const root = tempDir();
  const inside = path.join(root, 'in');
  fs.mkdirSync(path.join(inside, 'a'), { recursive: true });
  fs.writeFileSync(path.join(inside, 'a', 'x.png'), 'x');
  fs.writeFileSync(path.join(root, 'secret.txt'), 's');
  fs.symlinkSync(path.join(root, 'secret.txt'), path.join(inside, 'out.png'));
  fs.symlinkSync(root, path.join(inside, 'up'));
  assert.deepEqual(confinedFile(inside, 'a/x.png'), { file: fs.realpathSync(path.join(inside, 'a', 'x.png')) });
  assert.deepEqual(confinedFile(inside, 'a/x%2Epng'), { file: fs.realpathSync(path.join(inside, 'a', 'x.png')) });
  for (const rest of [
    '../secret.txt',
    'a/../../secret.txt',
    '%2e%2e/secret.txt',
    '..%2fsecret.txt',
    '..%5Csecret.txt',
    './a/x.png',
    '/etc/passwd',
    '%2Fetc%2Fpasswd',
    `${encodeURIComponent(path.join(root, 'secret.txt'))}`,
    'out.png',
    'up/secret.txt',
    'a/x.png%00',
    '%E0%A4%A',
  ]) {
    const r = confinedFile(inside, rest);
    assert.ok('status' in r && r.status === 403, `${rest}: ${JSON.stringify(r)}`);
  }
  assert.equal((confinedFile(inside, 'a/nothing.png') as { status: number }).status, 404);
  assert.equal((confinedFile(inside, 'a') as { status: number }).status, 404, 'a folder is not served');
});
