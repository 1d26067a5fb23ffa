// The progress bar's numbers, from the server's per-batch events.

export interface BatchProgress {
  /** 1-based epoch over the whole run, and the run's last epoch. */
  epoch: number;
  epochs: number;
  /** Epochs done before this phase started (resume, fine-tuning after the head). */
  firstEpoch: number;
  /** 1-based batch in the epoch, and batches per epoch. */
  batch: number;
  batches: number;
  /** Images trained on since the phase started, and its seconds. */
  imagesDone: number;
  elapsed: number;
  /** Fine-tuning after earlier epochs: the 0-based epoch it started at (its own epochs count from there). */
  fineTuneStart?: number;
}

export interface ProgressView {
  /** 0..1 of the phase's batches. */
  fraction: number;
  imagesPerSecond: number;
  /** Seconds left at this rate (NaN before any time has passed). */
  etaSeconds: number;
  text: string;
}

/** "1:05", "12:00:03" */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * The epoch as the CLI prints it: `Epoch 3/20`, and fine-tuning's own epochs after earlier
 * ones, `Epoch 1/2 (fine-tuning; 21 overall)` (workflows/fineTuneText.ts, which the page cannot import).
 */
function epochLabel(p: BatchProgress): string {
  const start = p.fineTuneStart ?? 0;
  if (start <= 0) return `Epoch ${p.epoch}/${p.epochs}`;
  return `Epoch ${p.epoch - start}/${p.epochs - start} (fine-tuning; ${p.epoch} overall)`;
}

/**
 * Where a training is: the fraction of the phase's batches done, images a second so
 * far, and the time left at that rate (validation's share is in the rate, as it is in
 * the elapsed time).
 */
export function progressOf(p: BatchProgress): ProgressView {
  const total = Math.max(1, (p.epochs - p.firstEpoch) * p.batches);
  const done = Math.min(total, (p.epoch - 1 - p.firstEpoch) * p.batches + p.batch);
  const fraction = done / total;
  const imagesPerSecond = p.elapsed > 0 ? p.imagesDone / p.elapsed : NaN;
  const etaSeconds = p.elapsed > 0 && done > 0 ? (p.elapsed * (total - done)) / done : NaN;
  const rate = Number.isFinite(imagesPerSecond) ? `${imagesPerSecond.toFixed(1)} images/s` : '- images/s';
  const text = `${epochLabel(p)}, batch ${p.batch}/${p.batches} - ${rate} - ETA ${formatDuration(etaSeconds)}`;
  return { fraction, imagesPerSecond, etaSeconds, text };
}
