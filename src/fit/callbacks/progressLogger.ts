import { Callback } from '@tensorflow/tfjs-layers';
import type { Logs } from '@tensorflow/tfjs-layers/dist/logs.js';
import { resolveLogs } from './logs.js';
import type { EpochLogs } from '../../run/history.js';

export interface ProgressLoggerArgs {
  /** Default process.stdout. A live bar is drawn only when it is a TTY. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Total epochs for the `Epoch i/N` header; default params.epochs. */
  epochs?: number;
  /** Milliseconds; defaults to performance.now (tests pass a fake clock). */
  now?: () => number;
  /** The line that opens an epoch (0-based); default `Epoch i/N`. */
  header?: (epoch: number) => string;
}

const BAR_WIDTH = 30;

/**
 * Keras-style progress: `Epoch 3/20`, then one line when the epoch ends,
 * `63/63 [==============================] 2s 31ms/step - accuracy: 0.9700 - loss: 0.0900 - val_accuracy: ... - val_loss: ...`.
 * On a terminal the same line is redrawn after every batch with an ETA.
 */
export class ProgressLogger extends Callback {
  private readonly stream: NonNullable<ProgressLoggerArgs['stream']>;
  private readonly epochsArg?: number;
  private readonly now: () => number;
  private readonly header?: (epoch: number) => string;
  private epochStart = 0;
  private seen = 0;
  private totals: Record<string, number> = {};
  private samples = 0;
  private lastDraw = 0;

  constructor(args: ProgressLoggerArgs = {}) {
    super();
    this.stream = args.stream ?? process.stdout;
    this.epochsArg = args.epochs;
    this.now = args.now ?? (() => performance.now());
    this.header = args.header;
  }

  private get steps(): number | undefined {
    const p = this.params ?? {};
    if (typeof p.steps === 'number' && p.steps > 0) return p.steps;
    if (typeof p.samples === 'number' && typeof p.batchSize === 'number' && p.batchSize > 0) return Math.ceil(p.samples / p.batchSize);
    return undefined;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    const epochs = this.epochsArg ?? (this.params?.epochs as number | undefined);
    this.stream.write(`${this.header?.(epoch) ?? `Epoch ${epoch + 1}/${epochs ?? '?'}`}\n`);
    this.epochStart = this.now();
    this.seen = 0;
    this.totals = {};
    this.samples = 0;
    this.lastDraw = 0;
  }

  override async onBatchEnd(_batch: number, rawLogs?: Logs): Promise<void> {
    const size = typeof rawLogs?.size === 'number' ? rawLogs.size : 1;
    const logs = await resolveLogs(rawLogs);
    this.seen += 1;
    this.samples += size;
    for (const [k, v] of Object.entries(logs)) this.totals[k] = (this.totals[k] ?? 0) + v * size;
    if (!this.stream.isTTY) return;
    const t = this.now();
    if (t - this.lastDraw < 100 && this.seen !== this.steps) return;
    this.lastDraw = t;
    const running: EpochLogs = {};
    for (const [k, v] of Object.entries(this.totals)) running[k] = v / this.samples;
    const elapsed = (t - this.epochStart) / 1000;
    const steps = this.steps;
    const eta = steps ? (elapsed / this.seen) * (steps - this.seen) : undefined;
    const timing = eta !== undefined ? `ETA: ${formatDuration(eta)}` : `${formatDuration(elapsed)}`;
    const line = `${progressPrefix(this.seen, steps)} ${timing}${formatMetrics(running)}`;
    const cols = this.stream.columns ?? 200;
    this.stream.write(`\r${line.slice(0, cols - 1)}\x1b[K`);
  }

  override async onEpochEnd(_epoch: number, rawLogs?: Logs): Promise<void> {
    const logs = await resolveLogs(rawLogs);
    const elapsedMs = this.now() - this.epochStart;
    const perStep = this.seen > 0 ? elapsedMs / this.seen : 0;
    const line = formatEpochLine(this.seen, this.steps ?? this.seen, elapsedMs / 1000, perStep, logs);
    this.stream.write(`${this.stream.isTTY ? '\r\x1b[K' : ''}${line}\n`);
  }
}

/** `63/63 [==============================]`; the bar has an arrow head while in progress. */
export function progressPrefix(done: number, steps: number | undefined): string {
  if (!steps) return `${done}/Unknown`;
  const width = String(steps).length;
  const filled = Math.min(BAR_WIDTH, Math.floor((BAR_WIDTH * done) / steps));
  const bar =
    done >= steps
      ? '='.repeat(BAR_WIDTH)
      : `${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${'.'.repeat(BAR_WIDTH - Math.max(filled, 0))}`;
  return `${String(done).padStart(width)}/${steps} [${bar.padEnd(BAR_WIDTH, '.')}]`;
}

export function formatEpochLine(done: number, steps: number, seconds: number, msPerStep: number, logs: EpochLogs): string {
  const step =
    msPerStep >= 1000
      ? `${Math.round(msPerStep / 1000)}s/step`
      : msPerStep >= 1
        ? `${Math.round(msPerStep)}ms/step`
        : `${Math.round(msPerStep * 1000)}us/step`;
  return `${progressPrefix(done, steps)} ${formatDuration(seconds)} ${step}${formatMetrics(logs)}`;
}

function formatMetrics(logs: EpochLogs): string {
  return Object.keys(logs)
    .sort()
    .map((k) => ` - ${k}: ${formatNumber(logs[k])}`)
    .join('');
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(4);
}

function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds - m * 60);
  return m < 60
    ? `${m}:${String(s).padStart(2, '0')}`
    : `${Math.floor(m / 60)}:${String(m % 60).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}
