import { writeFileAtomic } from '../io/atomicWrite.js';

/** One epoch's numbers, Keras names (loss, accuracy, val_loss, val_accuracy). */
export type EpochLogs = Record<string, number>;

/** What Keras's History.history holds: metric name -> one value per epoch. */
export interface HistoryData {
  epoch: number[];
  history: Record<string, number[]>;
  /** Epoch (0-based) where fine-tuning started, for the plots' marker. */
  fineTuneStartEpoch?: number;
  /**
   * The learning rate of every batch, one list an epoch (aligned with `epoch`), when a
   * schedule set them; an epoch trained at a fixed rate has an empty list. Absent in runs
   * that never scheduled a rate (and in runs written before schedules existed).
   */
  lrs?: number[][];
}

export function emptyHistory(): HistoryData {
  return { epoch: [], history: {} };
}

/** A deep copy holding only the first `epochs` epochs (what a resumed run continues from). */
export function truncateHistory(h: HistoryData, epochs: number): HistoryData {
  const keep = h.epoch.filter((e) => e < epochs).length;
  return {
    ...h,
    epoch: h.epoch.slice(0, keep),
    history: Object.fromEntries(Object.entries(h.history).map(([k, v]) => [k, v.slice(0, keep)])),
    ...(h.lrs ? { lrs: h.lrs.slice(0, keep).map((l) => [...l]) } : {}),
  };
}

export async function saveHistory(file: string, data: HistoryData): Promise<void> {
  // JSON has no NaN: write null, read back as NaN.
  await writeFileAtomic(file, `${JSON.stringify(data, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
}

export function parseHistory(text: string): HistoryData {
  const raw = JSON.parse(text) as HistoryData;
  const history: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(raw.history ?? {})) history[k] = v.map((x) => (x === null ? NaN : x));
  const lrs = Array.isArray(raw.lrs) ? raw.lrs.map((l) => (Array.isArray(l) ? l.map((x) => (x === null ? NaN : x)) : [])) : undefined;
  return { ...raw, epoch: raw.epoch ?? [], history, ...(lrs ? { lrs } : {}) };
}
