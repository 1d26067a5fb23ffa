import type { ChildProcess } from 'node:child_process';

/**
 * The first match of `pattern` in what `child` prints on stdout, bounded: when the child
 * exits first, or nothing matches within `ms`, the child is killed and the promise rejects
 * with what it printed (a test waiting for a line that never comes fails instead of hanging).
 */
export function waitForOutput(child: ChildProcess, pattern: RegExp, ms: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const fail = (why: string) => {
      cleanup();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      reject(
        new Error(
          `${why} without printing ${pattern}; stdout: ${JSON.stringify(out.slice(-2000))}; stderr: ${JSON.stringify(err.slice(-2000))}`,
        ),
      );
    };
    const timer = setTimeout(() => fail(`${ms} ms passed`), ms);
    const onOut = (c: Buffer) => {
      out += c.toString();
      const m = pattern.exec(out);
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onErr = (c: Buffer) => (err += c.toString());
    const onExit = (code: number | null, signal: string | null) => fail(`the process exited (${code ?? signal})`);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onOut);
      child.stderr?.off('data', onErr);
      child.off('close', onExit);
    };
    child.stdout?.on('data', onOut);
    child.stderr?.on('data', onErr);
    child.on('close', onExit);
  });
}

/** The child's exit code (null when killed by a signal), bounded: after `ms` it is killed and the promise rejects. */
export function waitForExit(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the process did not exit within ${ms} ms`));
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}
