import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Requirement } from './requirements.js';

// A one-node Slurm cluster for tests: Debian's slurm-wlm and munge, daemons started here
// with every file (key, sockets, state, spool, logs, pid files) in one temporary folder,
// on free ports, and stopped by their pid files. The plugins (proctrack/linuxproc,
// task/none, select/cons_tres) need no cgroups and no systemd, so this runs in containers.

const DAEMONS = { munged: '/usr/sbin/munged', slurmctld: '/usr/sbin/slurmctld', slurmd: '/usr/sbin/slurmd' };
const CLIENTS = ['sbatch', 'squeue', 'scontrol', 'scancel', 'sinfo'];

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, cmd)));
}

/** What a Slurm test needs: the daemons and clients of slurm-wlm and munge, and root (slurmd runs jobs as their user). */
export const needsSlurm: Requirement = {
  missing:
    (Object.values(DAEMONS).find((d) => !fs.existsSync(d)) &&
      `Slurm or munge is not installed (${Object.values(DAEMONS).find((d) => !fs.existsSync(d))} is missing)`) ||
    (CLIENTS.find((c) => !onPath(c)) && `the Slurm client ${CLIENTS.find((c) => !onPath(c))} is not on PATH`) ||
    (process.getuid?.() !== 0 && 'the Slurm test starts slurmd, which needs root'),
  install: 'as root: apt-get install slurm-wlm munge (scripts/setup.sh installs them when run as root)',
};

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function until(what: string, ok: () => boolean, ms: number, log: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms. ${log()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function pidOf(file: string): number | undefined {
  const pid = Number(fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : NaN);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface SlurmCluster {
  dir: string;
  /** The environment clients (sbatch, squeue, ...) need: SLURM_CONF. */
  env: NodeJS.ProcessEnv;
  /** Run a Slurm client (with `extraEnv` besides SLURM_CONF), returning its stdout (throws with its stderr on failure). */
  run(cmd: string, args: string[], extraEnv?: NodeJS.ProcessEnv): string;
  /** The daemons' logs, for a failure message. */
  logs(): string;
  /** Cancel every job, then stop slurmd, slurmctld and munged by their pid files (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
}

/** Start munged, slurmctld and slurmd in `dir` and wait until the node is idle. Always call stop(), even on failure. */
export async function startSlurm(dir: string): Promise<SlurmCluster> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (name: string) => path.join(dir, name);
  for (const sub of ['state', 'spool']) fs.mkdirSync(f(sub), { recursive: true });
  fs.writeFileSync(f('munge.key'), crypto.randomBytes(1024), { mode: 0o600 });
  const host = os.hostname().split('.')[0];
  const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
  const conf = f('slurm.conf');
  fs.writeFileSync(
    conf,
    [
      'ClusterName=tlkit-test',
      `SlurmctldHost=${host}(127.0.0.1)`,
      'SlurmUser=root',
      'SlurmdUser=root',
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      'AuthType=auth/munge',
      `AuthInfo=socket=${f('munge.socket')}`,
      'CredType=cred/munge',
      `StateSaveLocation=${f('state')}`,
      `SlurmdSpoolDir=${f('spool')}`,
      `SlurmctldPidFile=${f('slurmctld.pid')}`,
      `SlurmdPidFile=${f('slurmd.pid')}`,
      `SlurmctldLogFile=${f('slurmctld.log')}`,
      `SlurmdLogFile=${f('slurmd.log')}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'SchedulerType=sched/backfill',
      'JobCompType=jobcomp/none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'MpiDefault=none',
      'ReturnToService=2',
      // Finished jobs stay queryable (scontrol show job) for the whole test.
      'MinJobAge=3600',
      `NodeName=tlkitnode NodeAddr=127.0.0.1 NodeHostname=${host} CPUs=${os.cpus().length} RealMemory=${Math.floor((os.totalmem() / 2 ** 20) * 0.9)} State=UNKNOWN`,
      'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
      '',
    ].join('\n'),
  );
  const env = { ...process.env, SLURM_CONF: conf };
  const logs = () =>
    ['munged.log', 'slurmctld.log', 'slurmd.log']
      .map((l) => `--- ${l}:\n${fs.existsSync(f(l)) ? fs.readFileSync(f(l), 'utf8').split('\n').slice(-15).join('\n') : '(none)'}`)
      .join('\n');
  const run = (cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
    try {
      return execFileSync(cmd, args, { env: { ...env, ...extraEnv }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
    }
  };
  // Should the test process die first (a timeout, Ctrl-C), the daemons go with it.
  const killNow = () => {
    for (const name of ['slurmd', 'slurmctld', 'munged']) {
      const pid = pidOf(f(`${name}.pid`));
      if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    killNow();
    process.kill(process.pid, signal);
  };
  process.once('exit', killNow);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const cluster: SlurmCluster = {
    dir,
    env,
    run,
    logs,
    async stop() {
      process.off('exit', killNow);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      try {
        if (pidOf(f('slurmctld.pid'))) run('scancel', ['--full', '--user=root']);
      } catch {
        /* the controller is not up: nothing to cancel */
      }
      for (const name of ['slurmd', 'slurmctld', 'munged']) {
        const pid = pidOf(f(`${name}.pid`));
        if (pid === undefined || !alive(pid)) continue;
        process.kill(pid, 'SIGTERM');
        const end = Date.now() + 10000;
        while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
    },
  };
  try {
    execFileSync(DAEMONS.munged, [
      '--force',
      `--socket=${f('munge.socket')}`,
      `--key-file=${f('munge.key')}`,
      `--log-file=${f('munged.log')}`,
      `--pid-file=${f('munged.pid')}`,
      `--seed-file=${f('munged.seed')}`,
    ]);
    await until('munged creating its socket', () => fs.existsSync(f('munge.socket')), 10000, logs);
    execFileSync(DAEMONS.slurmctld, ['-f', conf, '-i'], { env });
    execFileSync(DAEMONS.slurmd, ['-f', conf, '-N', 'tlkitnode'], { env });
    await until('the node becoming idle', () => /idle/.test(safe(() => run('sinfo', ['-h', '-o', '%T']))), 30000, logs);
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

function safe(fn: () => string): string {
  try {
    return fn();
  } catch {
    return '';
  }
}

const ENDED = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE']);

/** Wait until job `id` (one job, or one task `<array>_<K>`) has ended: its state and exit code (e.g. '2:0'). */
export async function jobEnded(cluster: SlurmCluster, id: string, ms: number): Promise<{ state: string; exitCode: string }> {
  const end = Date.now() + ms;
  for (;;) {
    const line = safe(() => cluster.run('scontrol', ['show', 'job', '-o', id])).split('\n')[0] ?? '';
    const state = /JobState=(\S+)/.exec(line)?.[1] ?? '';
    if (ENDED.has(state)) return { state, exitCode: /ExitCode=(\S+)/.exec(line)?.[1] ?? '' };
    if (/Reason=DependencyNeverSatisfied/.test(line)) throw new Error(`job ${id} will never run: ${line}`);
    if (Date.now() > end) throw new Error(`job ${id} did not end within ${ms} ms (${state || 'unknown'}). ${cluster.logs()}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
