import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveShard, shardFromEnvironment } from './environment.js';

const shard = (env: Record<string, string>, shards?: string) => {
  const { index, count } = shardFromEnvironment(env, shards);
  return [index, count];
};

test('--shard auto reads the task index and count of each job engine', () => {
  // Slurm: offset by the array's first index (and step); with --shards the task id itself.
  assert.deepEqual(shard({ SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '0' }), [2, 4]);
  assert.deepEqual(shard({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '1' }), [2, 4]);
  assert.deepEqual(
    shard({ SLURM_ARRAY_TASK_ID: '14', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '10', SLURM_ARRAY_TASK_STEP: '2' }),
    [2, 4],
  );
  // One task re-submitted alone (sbatch --array=2 is an array of one): --shards keeps it shard 2 of 4.
  assert.deepEqual(shard({ SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '1', SLURM_ARRAY_TASK_MIN: '2' }, '4'), [2, 4]);
  // Kubernetes Indexed Job and AWS Batch: the index only; the count from --shards.
  assert.deepEqual(shard({ JOB_COMPLETION_INDEX: '5' }, '8'), [5, 8]);
  assert.deepEqual(shard({ AWS_BATCH_JOB_ARRAY_INDEX: '0' }, '3'), [0, 3]);
  // Google Cloud Batch and Cloud Run export both.
  assert.deepEqual(shard({ BATCH_TASK_INDEX: '1', BATCH_TASK_COUNT: '2' }), [1, 2]);
  assert.deepEqual(shard({ CLOUD_RUN_TASK_INDEX: '6', CLOUD_RUN_TASK_COUNT: '7' }), [6, 7]);
  assert.match(shardFromEnvironment({ JOB_COMPLETION_INDEX: '5' }, '8').source, /Kubernetes .*JOB_COMPLETION_INDEX=5/);
});

test('--shard auto without an index, or with one it cannot use, is a UserError naming the variables and the fix', () => {
  const refused = (env: Record<string, string>, pattern: RegExp, shards?: string) =>
    assert.throws(
      () => shardFromEnvironment(env, shards),
      (e: Error) => e.name === 'UserError' && pattern.test(e.message),
    );
  refused({}, /SLURM_ARRAY_TASK_ID.*JOB_COMPLETION_INDEX.*AWS_BATCH_JOB_ARRAY_INDEX.*BATCH_TASK_INDEX.*CLOUD_RUN_TASK_INDEX.*--shard K\/N/);
  refused({ JOB_COMPLETION_INDEX: '1' }, /JOB_COMPLETION_INDEX.*--shards N/);
  refused({ AWS_BATCH_JOB_ARRAY_INDEX: '1' }, /AWS Batch.*--shards N/);
  refused({ JOB_COMPLETION_INDEX: '4' }, /shard 4.*not below the shard count 4/, '4');
  refused({ JOB_COMPLETION_INDEX: 'x' }, /JOB_COMPLETION_INDEX is 'x'/, '4');
  refused({ BATCH_TASK_INDEX: '1', BATCH_TASK_COUNT: '2' }, /--shards 3 disagrees with BATCH_TASK_COUNT=2/, '3');
  refused({ SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_MIN: '0' }, /not below the shard count 3.*--array=0-2/);
  refused({ SLURM_ARRAY_TASK_ID: '4' }, /number the array from 0: sbatch --array=0-3/, '4');
});

test('--shard K/N and --shards agree or are refused; auto goes to the environment', () => {
  assert.deepEqual(resolveShard('1/3', undefined, {}), { index: 1, count: 3, source: '--shard 1/3' });
  assert.throws(() => resolveShard('1/3', '4', {}), /--shards 4 disagrees with --shard 1\/3/);
  assert.equal(resolveShard('auto', '6', { JOB_COMPLETION_INDEX: '2' }).index, 2);
});
