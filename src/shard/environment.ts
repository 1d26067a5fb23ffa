import { UserError } from '../errors.js';
import { checkShardCount, parseShardText, type ShardSpec } from './assign.js';

/** A shard and where it came from (the engine and its variables), for a log line. */
export interface ResolvedShard extends ShardSpec {
  source: string;
}

type Env = Record<string, string | undefined>;

/** A task index read from `name`: a whole number >= 0. */
function indexVar(env: Env, name: string): number {
  const v = env[name] ?? '';
  if (!/^\d+$/.test(v.trim())) throw new UserError(`--shard auto: ${name} is '${v}', not a task index (a whole number from 0).`);
  return Number(v);
}

function within(spec: ShardSpec, source: string, fix: string): ResolvedShard {
  if (spec.index >= spec.count)
    throw new UserError(`--shard auto: ${source} gives shard ${spec.index}, which is not below the shard count ${spec.count}. ${fix}`);
  return { ...spec, source };
}

/** The count from --shards, which an engine that does not export it needs. */
function countFromFlag(shards: string | undefined, engine: string, indexName: string): number {
  if (shards === undefined)
    throw new UserError(
      `--shard auto: ${engine} gives the task index (${indexName}) but not the number of tasks. Pass it with --shards N (the job's completions / array size).`,
    );
  return checkShardCount(shards, '--shards');
}

/** An engine's count variable checked against --shards when both are given. */
function agreedCount(env: Env, name: string, shards: string | undefined): number {
  const fromEnv = checkShardCount(env[name] ?? '', `--shard auto: ${name}`);
  if (shards !== undefined && checkShardCount(shards, '--shards') !== fromEnv)
    throw new UserError(`--shards ${shards} disagrees with ${name}=${fromEnv} set by the job. Drop --shards, or make them agree.`);
  return fromEnv;
}

/**
 * The shard of this task from the job engine's environment:
 * - Slurm job arrays: index SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN (over SLURM_ARRAY_TASK_STEP)
 *   of SLURM_ARRAY_TASK_COUNT. With --shards N the task id itself is the index and N the
 *   count, so that one task re-submitted alone (`sbatch --array=2`, an array of one) is
 *   still shard 2 of N.
 * - Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX, with the count from --shards (Kubernetes
 *   does not export `completions`).
 * - AWS Batch array jobs: AWS_BATCH_JOB_ARRAY_INDEX, with --shards.
 * - Google Cloud Batch: BATCH_TASK_INDEX of BATCH_TASK_COUNT; Cloud Run jobs:
 *   CLOUD_RUN_TASK_INDEX of CLOUD_RUN_TASK_COUNT.
 */
export function shardFromEnvironment(env: Env, shards?: string): ResolvedShard {
  const has = (name: string) => env[name] !== undefined && env[name] !== '';
  if (has('SLURM_ARRAY_TASK_ID')) {
    const id = indexVar(env, 'SLURM_ARRAY_TASK_ID');
    if (shards !== undefined) {
      const count = checkShardCount(shards, '--shards');
      return within(
        { index: id, count },
        `Slurm (SLURM_ARRAY_TASK_ID=${id}, --shards ${count})`,
        `With --shards, number the array from 0: sbatch --array=0-${count - 1}.`,
      );
    }
    const min = has('SLURM_ARRAY_TASK_MIN') ? indexVar(env, 'SLURM_ARRAY_TASK_MIN') : 0;
    const step = has('SLURM_ARRAY_TASK_STEP') ? Math.max(1, indexVar(env, 'SLURM_ARRAY_TASK_STEP')) : 1;
    const count = checkShardCount(env.SLURM_ARRAY_TASK_COUNT ?? '', '--shard auto: SLURM_ARRAY_TASK_COUNT');
    if ((id - min) % step !== 0 || id < min)
      throw new UserError(
        `--shard auto: SLURM_ARRAY_TASK_ID=${id} is not on the array's grid (SLURM_ARRAY_TASK_MIN=${min}, SLURM_ARRAY_TASK_STEP=${step}). Submit a plain range, e.g. sbatch --array=0-${count - 1}.`,
      );
    return within(
      { index: (id - min) / step, count },
      `Slurm (SLURM_ARRAY_TASK_ID=${id}, SLURM_ARRAY_TASK_MIN=${min}, SLURM_ARRAY_TASK_COUNT=${count})`,
      `The array has holes (e.g. --array=0,2,5): submit a plain range such as --array=0-${count - 1}, or pass --shards N and number the tasks 0..N-1.`,
    );
  }
  if (has('JOB_COMPLETION_INDEX')) {
    const index = indexVar(env, 'JOB_COMPLETION_INDEX');
    const count = countFromFlag(shards, 'a Kubernetes Indexed Job', 'JOB_COMPLETION_INDEX');
    return within(
      { index, count },
      `Kubernetes (JOB_COMPLETION_INDEX=${index}, --shards ${count})`,
      "Make --shards equal to the Job's spec.completions.",
    );
  }
  if (has('AWS_BATCH_JOB_ARRAY_INDEX')) {
    const index = indexVar(env, 'AWS_BATCH_JOB_ARRAY_INDEX');
    const count = countFromFlag(shards, 'an AWS Batch array job', 'AWS_BATCH_JOB_ARRAY_INDEX');
    return within(
      { index, count },
      `AWS Batch (AWS_BATCH_JOB_ARRAY_INDEX=${index}, --shards ${count})`,
      'Make --shards equal to the array size.',
    );
  }
  for (const [engine, indexName, countName] of [
    ['Google Cloud Batch', 'BATCH_TASK_INDEX', 'BATCH_TASK_COUNT'],
    ['Cloud Run', 'CLOUD_RUN_TASK_INDEX', 'CLOUD_RUN_TASK_COUNT'],
  ] as const) {
    if (!has(indexName)) continue;
    const index = indexVar(env, indexName);
    const count = has(countName) ? agreedCount(env, countName, shards) : countFromFlag(shards, engine, indexName);
    return within({ index, count }, `${engine} (${indexName}=${index}, ${countName}=${count})`, `Check the job's task count.`);
  }
  throw new UserError(
    '--shard auto found no task index in the environment: it looks for SLURM_ARRAY_TASK_ID (Slurm job arrays), JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs), AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch), BATCH_TASK_INDEX (Google Cloud Batch) and CLOUD_RUN_TASK_INDEX (Cloud Run jobs). Run it as a task of a job array, or pass --shard K/N.',
  );
}

/** `--shard K/N` or `--shard auto` (with `--shards N` where the engine does not export the count). */
export function resolveShard(text: string, shards: string | undefined, env: Env = process.env): ResolvedShard {
  if (text.trim() === 'auto') return shardFromEnvironment(env, shards);
  const spec = parseShardText(text);
  if (shards !== undefined && checkShardCount(shards, '--shards') !== spec.count)
    throw new UserError(`--shards ${shards} disagrees with --shard ${text}. Drop --shards (it is for --shard auto), or make them agree.`);
  return { ...spec, source: `--shard ${spec.index}/${spec.count}` };
}
