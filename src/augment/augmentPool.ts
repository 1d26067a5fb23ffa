import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { applyPlan, type AugmentPlan } from './plan.js';

/** What a worker is asked: images [from, to) of the batch in `src`, written into `out`. */
export interface AugmentJob {
  id: number;
  src: SharedArrayBuffer;
  out: SharedArrayBuffer;
  plan: AugmentPlan;
  from: number;
  to: number;
}

export interface AugmentReply {
  id: number;
  error?: string;
}

/** More threads than this gains nothing on batches of a few dozen images. */
const MAX_THREADS = 8;

/**
 * Worker threads that apply augmentation plans, so flips, rotations and zooms run on
 * every core while the main thread decodes and ONNX Runtime runs the frozen base. A
 * batch is cut into contiguous runs of images, one a worker; each image's pixels are
 * the same float64 arithmetic as on the main thread (kernels.ts), so the result is
 * bit-identical to applyPlan's whoever computes it. The random draws stay with the
 * caller. Idle workers do not keep the process alive. Where a worker cannot start or
 * fails, the pool says so once (`onFallback`) and augments on the calling thread.
 */
export class AugmentPool {
  private workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  /** Jobs each worker has in hand: a worker with any keeps the process alive until it answers. */
  private readonly inHand = new Map<Worker, number>();
  private nextId = 0;
  private broken = false;

  constructor(
    readonly threads = defaultAugmentThreads(),
    private readonly onFallback: (reason: string) => void = () => {},
  ) {
    if (threads < 0 || !Number.isInteger(threads)) throw new Error(`AugmentPool: threads must be a whole number >= 0, got ${threads}`);
    try {
      for (let i = 0; i < threads; i++) this.workers.push(this.start());
    } catch (e) {
      this.fail(`could not start a worker thread (${e instanceof Error ? e.message : String(e)})`);
    }
  }

  /** The augmented batch: `plan` applied to `images` (NHWC float32, plan.shape). */
  async apply(images: Float32Array, plan: AugmentPlan): Promise<Float32Array> {
    const n = plan.shape[0];
    if (images.length !== plan.shape.reduce((a, b) => a * b, 1))
      throw new Error(`AugmentPool.apply: ${images.length} values for a plan of shape [${plan.shape.join(', ')}]`);
    if (this.broken || this.workers.length === 0 || n === 0) return this.inThread(images, plan);
    const src = new SharedArrayBuffer(images.byteLength);
    new Float32Array(src).set(images);
    const out = new SharedArrayBuffer(images.byteLength);
    const parts = Math.min(this.workers.length, n);
    const jobs: Array<Promise<void>> = [];
    for (let k = 0; k < parts; k++) {
      const from = Math.floor((k * n) / parts);
      const to = Math.floor(((k + 1) * n) / parts);
      jobs.push(this.post(this.workers[k], { id: this.nextId++, src, out, plan, from, to }));
    }
    try {
      await Promise.all(jobs);
    } catch (e) {
      this.fail((e as Error).message);
      return this.inThread(images, plan);
    }
    // A copy out of shared memory: ONNX Runtime's node binding refuses views of a SharedArrayBuffer.
    return new Float32Array(out).slice();
  }

  /** Stop the workers; later calls augment on the calling thread. */
  async close(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private inThread(images: Float32Array, plan: AugmentPlan): Float32Array {
    const out = new Float32Array(images.length);
    applyPlan(images, out, plan);
    return out;
  }

  private start(): Worker {
    const worker = startWorker();
    worker.on('message', (r: AugmentReply) => {
      const w = this.waiting.get(r.id);
      if (!w) return;
      this.waiting.delete(r.id);
      this.idle(worker);
      if (r.error) w.reject(new Error(`an augmentation worker failed: ${r.error}`));
      else w.resolve();
    });
    worker.on('error', (e) => this.fail(`an augmentation worker stopped: ${e.message}`));
    worker.on('exit', (code) => {
      if (this.workers.includes(worker)) this.fail(`an augmentation worker exited (code ${code})`);
    });
    worker.unref();
    return worker;
  }

  private post(worker: Worker, job: AugmentJob): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.set(job.id, { resolve, reject });
      this.inHand.set(worker, (this.inHand.get(worker) ?? 0) + 1);
      worker.ref();
      worker.postMessage(job);
    });
  }

  private idle(worker: Worker): void {
    const left = (this.inHand.get(worker) ?? 1) - 1;
    this.inHand.set(worker, left);
    if (left === 0) worker.unref();
  }

  private fail(reason: string): void {
    if (!this.broken) this.onFallback(`${reason}; augmenting on the main thread instead`);
    this.broken = true;
    for (const w of this.waiting.values()) w.reject(new Error(reason));
    this.waiting.clear();
    void this.close();
  }
}

let shared: AugmentPool | undefined;

/**
 * The process's pool, started on first use and kept: runs after runs (the web UI trains
 * in-process) share its workers, which idle without holding the process open.
 */
export function sharedAugmentPool(): AugmentPool {
  shared ??= new AugmentPool(defaultAugmentThreads(), (reason) => process.emitWarning(`tlkit: ${reason}.`));
  return shared;
}

/** A worker a core (the cores ONNX Runtime uses are shared: the OS interleaves them). */
export function defaultAugmentThreads(): number {
  return Math.max(1, Math.min(MAX_THREADS, os.availableParallelism()));
}

/**
 * The worker thread: augmentWorker.js beside this file once built. From the sources
 * (run through tsx) it is the .ts, which a worker cannot load by itself (Node 20 does
 * not apply `--import tsx` to a worker's entry), so a small script registers tsx first.
 */
function startWorker(): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./augmentWorker.js', self));
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./augmentWorker.ts', self).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, {
    eval: true,
  });
}
