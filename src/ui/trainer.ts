import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { readMeta } from '../run/meta.js';
import { train } from '../workflows/train.js';
import type { TrainOptionsInput, TrainResult } from '../workflows/options.js';
import type { TrainEvent } from './protocol.js';
import { inFormWords } from './trainForm.js';

type Listener = (e: TrainEvent) => void;

/** Progress of one run as events: every batch, every epoch (after tlkit's checkpointing, as `train --json`). */
class EventCallback extends tfl.Callback {
  private t0 = 0;
  private firstEpoch = 0;
  private epochs = 0;
  private batches = 0;
  private imagesDone = 0;
  private epoch = 0;
  private fineTuneStart = 0;

  constructor(
    private readonly run: string,
    private readonly out: string,
    private readonly emit: Listener,
  ) {
    super();
  }

  override async onTrainBegin(): Promise<void> {
    const p = this.params as { epochs?: number; initialEpoch?: number; steps?: number };
    this.t0 = performance.now();
    this.firstEpoch = p.initialEpoch ?? 0;
    this.epochs = p.epochs ?? 0;
    this.batches = p.steps ?? 0;
    this.imagesDone = 0;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
    // The phase's first epoch: meta.json says by now whether it fine-tunes (as the CLI's epoch lines read it).
    if (epoch === this.firstEpoch) this.fineTuneStart = await fineTuneStartOf(this.out);
  }

  override async onBatchEnd(batch: number, logs?: Record<string, unknown>): Promise<void> {
    this.imagesDone += Number(logs?.size ?? 0);
    this.emit({
      type: 'batch',
      run: this.run,
      epoch: this.epoch + 1,
      epochs: this.epochs,
      firstEpoch: this.firstEpoch,
      batch: batch + 1,
      batches: this.batches,
      imagesDone: this.imagesDone,
      elapsed: (performance.now() - this.t0) / 1000,
      ...(this.fineTuneStart > 0 ? { fineTuneStart: this.fineTuneStart } : {}),
    });
  }

  override async onEpochEnd(epoch: number, logs?: Record<string, unknown>): Promise<void> {
    let saved = false;
    try {
      saved = (await readMeta(this.out)).bestEpoch === epoch;
    } catch {
      saved = false;
    }
    const metrics: Record<string, number | null> = {};
    for (const [k, v] of Object.entries(logs ?? {})) if (typeof v === 'number') metrics[k] = Number.isFinite(v) ? v : null;
    this.emit({ type: 'epoch', run: this.run, epoch: epoch + 1, epochs: this.epochs, metrics, checkpointSaved: saved });
  }
}

/** The epoch fine-tuning started at when meta.json says the run is fine-tuning, else 0. */
async function fineTuneStartOf(out: string): Promise<number> {
  try {
    const meta = await readMeta(out);
    return meta.phase === 'finetune' ? (meta.fineTuneStartEpoch ?? 0) : 0;
  } catch {
    return 0;
  }
}

interface Current {
  run: string;
  controller: AbortController;
  events: TrainEvent[];
  done: Promise<void>;
}

/**
 * One training at a time, in this process, through the same train() as `tlkit train`.
 * Its events go to every subscriber (the page's EventSource); a subscriber that comes
 * late gets the events so far first. stop() is the CLI's first Ctrl-C: the run stops
 * after the current batch and keeps its best checkpoint.
 */
export class Trainer {
  private current: Current | undefined;
  private readonly listeners = new Set<Listener>();

  get running(): string | undefined {
    return this.current?.run;
  }

  /** Start training (options already checked by the caller); rejects while another run trains. */
  start(run: string, options: TrainOptionsInput, describe: (r: TrainResult) => string): Promise<void> {
    if (this.current) throw new UserError(`The run ${this.current.run} is training. Stop it first, or wait for it to end.`);
    const controller = new AbortController();
    const events: TrainEvent[] = [];
    const emit = (e: TrainEvent) => {
      // Batch events are transient: a late subscriber needs only the last one.
      if (e.type === 'batch' && events.at(-1)?.type === 'batch') events[events.length - 1] = e;
      else events.push(e);
      for (const l of this.listeners) l(e);
    };
    const current: Current = { run, controller, events, done: Promise.resolve() };
    this.current = current;
    emit({ type: 'start', run });
    current.done = (async () => {
      try {
        const result = await train(
          { ...options, verbose: 0, signal: controller.signal },
          { naming: 'form', log: () => {}, callbacks: [new EventCallback(run, options.out, emit)] },
        );
        // A kNN run has no epoch, and its model is whole once built: the page shows it as it shows a trained one.
        const bestEpoch = result.knn ? 1 : result.bestEpoch + 1;
        emit({ type: 'end', run, bestEpoch, interrupted: Boolean(result.interrupted), message: describe(result) });
      } catch (e) {
        emit({ type: 'error', run, message: inFormWords(e instanceof Error ? e.message : String(e)) });
      } finally {
        this.current = undefined;
      }
    })();
    return current.done;
  }

  /** Ask the training to stop after its current batch; false when none runs. */
  stop(): boolean {
    if (!this.current) return false;
    this.current.controller.abort();
    return true;
  }

  /** Stop and wait for the run to close its folder (server shutdown). */
  async stopAndWait(): Promise<void> {
    const c = this.current;
    if (!c) return;
    c.controller.abort();
    await c.done;
  }

  subscribe(listener: Listener): () => void {
    for (const e of this.current?.events ?? []) listener(e);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
