import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hugePagesEnv } from './hugePages.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-hugepages-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

test('predict and evaluate are relaunched with glibc huge pages; other commands, other systems and the child are not', () => {
  const env = { PATH: '/bin' };
  const yes = () => true;
  const no = () => false;
  assert.equal(hugePagesEnv(['predict', '--model', 'run', 'a.jpg'], env, yes, [])?.GLIBC_TUNABLES, 'glibc.malloc.hugetlb=1');
  assert.equal(hugePagesEnv(['evaluate', '--model', 'run'], env, yes, [])?.PATH, '/bin');
  // The user's own tunables are kept.
  assert.equal(
    hugePagesEnv(['predict'], { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, yes, [])?.GLIBC_TUNABLES,
    'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1',
  );
  assert.equal(hugePagesEnv(['train', '--mode', 'features'], env, yes, []), undefined, 'train has a graceful Ctrl-C');
  assert.equal(
    hugePagesEnv(['--version'], env, () => assert.fail('the glibc probe runs for predict and evaluate only'), []),
    undefined,
  );
  assert.equal(hugePagesEnv(['predict'], env, no, []), undefined, 'not Linux with glibc');
  assert.equal(hugePagesEnv(['predict'], { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }, yes, []), undefined, 'set already (or the child)');
  assert.equal(hugePagesEnv(['predict'], { TLKIT_HUGE_PAGES: 'off' }, yes, []), undefined);
  assert.equal(hugePagesEnv(['predict'], env, yes, ['--inspect-brk']), undefined, 'a debugger stays with this process');
  assert.ok(hugePagesEnv(['predict'], env, yes, ['--max-old-space-size=4096']));
});

/** A parent that relaunches `child` (a script) the way bin/tlkit.js does. */
function parentScript(childBody: string): { parent: string; child: string } {
  const dir = fs.mkdtempSync(path.join(work, 'case-'));
  const child = path.join(dir, 'child.mjs');
  fs.writeFileSync(child, childBody);
  const parent = path.join(dir, 'parent.mts');
  fs.writeFileSync(
    parent,
    `import { relaunch } from ${JSON.stringify(path.join(here, 'hugePages.ts'))};
await relaunch(${JSON.stringify(child)}, process.argv.slice(2), { ...process.env, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
console.log('not reached');
`,
  );
  return { parent, child };
}

test("the relaunched child gets the setting and the arguments; the parent ends with the child's exit code", () => {
  const { parent } = parentScript(
    `console.log(JSON.stringify({ tunables: process.env.GLIBC_TUNABLES, args: process.argv.slice(2) })); process.exit(3);`,
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', parent, 'predict', 'a b.jpg'], { encoding: 'utf8' });
  assert.equal(r.status, 3, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()), { tunables: 'glibc.malloc.hugetlb=1', args: ['predict', 'a b.jpg'] });
});

test('a child stopped by a signal stops the parent with it', () => {
  const { parent } = parentScript(`process.kill(process.pid, 'SIGTERM'); setTimeout(() => {}, 5000);`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', parent], { encoding: 'utf8' });
  assert.equal(r.signal, 'SIGTERM', `status ${r.status} ${r.stderr}`);
});

test('SIGTERM sent to the parent reaches the child', async () => {
  const { parent } = parentScript(
    `process.on('SIGTERM', () => { console.log('child got SIGTERM'); process.exit(7); }); console.log('ready'); setTimeout(() => {}, 20000);`,
  );
  const p = spawn(process.execPath, ['--import', 'tsx', parent], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const ended = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve) =>
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    }),
  );
  p.kill('SIGTERM');
  assert.equal(await ended, 7);
  assert.match(out, /child got SIGTERM/);
});

test("bin/tlkit.js predict runs relaunched and passes the command's exit status and message through", () => {
  const bin = path.join(here, '../../bin/tlkit.js');
  const r = spawnSync(process.execPath, [bin, 'predict', '--model', path.join(work, 'no-such-run'), 'x.jpg'], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^tlkit: .*no-such-run/m);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
});

test('a kill -9 of the parent ends the relaunched child too (it would run on alone)', async () => {
  const { parent } = parentScript(
    `import { followLauncher } from ${JSON.stringify(path.join(here, 'hugePages.ts'))};
followLauncher();
console.log(process.pid);
setInterval(() => {}, 1000);`,
  );
  const p = spawn(process.execPath, ['--import', 'tsx', parent], { stdio: ['ignore', 'pipe', 'pipe'] });
  const childPid = await new Promise<number>((resolve) => p.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  assert.ok(alive(childPid));
  p.kill('SIGKILL');
  for (let i = 0; i < 100 && alive(childPid); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(alive(childPid), false, 'the child outlived its parent');
});
