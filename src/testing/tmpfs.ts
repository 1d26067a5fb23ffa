import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { skipOrFail } from './requirements.js';

/**
 * A fresh tmpfs mounted with `options` ('ro', 'size=4k': a read-only or a full disk) for
 * the rest of the test, unmounted after it. Needs root and mount(8): elsewhere the test is
 * skipped, saying so (a failure under CI, whose container has both). Undefined when skipped.
 */
export function mountTmpfs(t: TestContext, options: string): string | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-tmpfs-'));
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  const requirement = {
    missing: mount.status !== 0 && `cannot mount a tmpfs here (${(mount.error?.message ?? mount.stderr).trim()})`,
    install: 'run the tests as root (or with CAP_SYS_ADMIN) where mount(8) is installed, as the CI container does',
  };
  if (skipOrFail(t, requirement)) {
    fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  t.after(() => {
    spawnSync('umount', [dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
