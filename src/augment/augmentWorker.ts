// A worker thread of AugmentPool: applies a slice of a batch's augmentation plan
// between two shared buffers. Loads plan.ts and kernels.ts only (no tfjs).
import { parentPort } from 'node:worker_threads';
import { applyPlan } from './plan.js';
import type { AugmentJob, AugmentReply } from './augmentPool.js';

const port = parentPort;
if (!port) throw new Error('augmentWorker.ts runs as a worker thread of AugmentPool');
port.on('message', (job: AugmentJob) => {
  let reply: AugmentReply;
  try {
    applyPlan(new Float32Array(job.src), new Float32Array(job.out), job.plan, job.from, job.to);
    reply = { id: job.id };
  } catch (e) {
    reply = { id: job.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  port.postMessage(reply);
});
