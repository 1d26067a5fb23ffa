import { spawn } from 'node:child_process';
import { constants } from 'node:os';

// On Linux with glibc, malloc hands out 4 KiB pages unless told otherwise, and a command
// that reads a 70 MB graph touches 17,000 of them, each a page fault (and, in a virtual
// machine, a nested page walk on every TLB miss). `tlkit predict` of one photo on VGG16@180
// spent 0.2 s reading its cached graph and 0.15 s on the first pass over it: with glibc's
// transparent huge pages (glibc.malloc.hugetlb=1, glibc 2.35+) the whole command takes half
// the time. glibc reads the setting only at process start, so bin/tlkit.js starts the
// command again in a child with it set. Only commands without a graceful Ctrl-C (which a
// forwarded signal would turn into a second, forcing one) are relaunched.

/** The commands worth a second process start (about 0.1 s) for huge pages. */
const HUGE_PAGE_COMMANDS: ReadonlySet<string> = new Set(['predict', 'evaluate']);

const TUNABLE = 'glibc.malloc.hugetlb=1';

/** The signals a relaunching parent passes on to the command it started. */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * The environment to relaunch `argv` (the arguments after `tlkit`) with, or undefined to run
 * it in this process: not Linux with glibc, a command not in HUGE_PAGE_COMMANDS, the setting
 * already there (this is the relaunched child), TLKIT_HUGE_PAGES=off, or node --inspect.
 */
export function hugePagesEnv(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  glibc: () => boolean = isLinuxGlibc,
  execArgv: string[] = process.execArgv,
): NodeJS.ProcessEnv | undefined {
  const command = argv.find((a) => !a.startsWith('-'));
  if (command === undefined || !HUGE_PAGE_COMMANDS.has(command) || env.TLKIT_HUGE_PAGES === 'off') return undefined;
  // A debugger attached to this process (node --inspect) would not see a child's work.
  if (execArgv.some((a) => a.startsWith('--inspect'))) return undefined;
  const tunables = env.GLIBC_TUNABLES ?? '';
  if (tunables.includes('glibc.malloc.hugetlb=')) return undefined;
  // Last: asking for glibc's version builds a process report (a few ms), which other commands never pay.
  if (!glibc()) return undefined;
  return { ...env, GLIBC_TUNABLES: tunables ? `${tunables}:${TUNABLE}` : TUNABLE };
}

function isLinuxGlibc(): boolean {
  if (process.platform !== 'linux') return false;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return typeof header?.glibcVersionRuntime === 'string';
}

/**
 * Run `entry` with `args` in a child Node process with `env`, and end this process as the
 * child ended (its exit code, or the signal that stopped it). Ctrl-C, SIGTERM and SIGHUP sent
 * to this process are passed on. Resolves false, without exiting, when the child could not
 * be started (the caller then runs the command itself).
 */
export function relaunch(entry: string, args: string[], env: NodeJS.ProcessEnv): Promise<false> {
  return new Promise((resolve) => {
    // The IPC channel tells the child when this process is gone (followLauncher).
    const child = spawn(process.execPath, [...process.execArgv, entry, ...args], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const s of FORWARDED) process.on(s, forward);
    child.on('error', () => {
      for (const s of FORWARDED) process.off(s, forward);
      resolve(false);
    });
    child.on('exit', (code, signal) => {
      for (const s of FORWARDED) process.off(s, forward);
      if (!signal) process.exit(code ?? 1);
      // End the way the child did; a signal Node ignores (SIGPIPE) still ends with the shell's 128 + n.
      process.kill(process.pid, signal);
      setImmediate(() => process.exit(128 + (constants.signals[signal] ?? 0)));
    });
  });
}

/**
 * In a relaunched command: end when the process that started it ends. Signals reach the
 * child through the parent, but a kill -9 of the parent (what a user sees as `tlkit`) would
 * otherwise leave the command running on its own. A no-op in a command not relaunched.
 */
export function followLauncher(): void {
  if (!process.channel) return;
  process.channel.unref(); // the channel alone never keeps the command alive
  process.once('disconnect', () => process.exit(137));
}
