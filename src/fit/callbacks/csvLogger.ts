import { promises as fsp, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Callback } from '@tensorflow/tfjs-layers';
import type { Logs } from '@tensorflow/tfjs-layers/dist/logs.js';
import { writeFileAtomic } from '../../io/atomicWrite.js';
import { isPartialEpoch, resolveLogs } from './logs.js';

export interface CSVLoggerArgs {
  file: string;
  /** Keep the rows already in `file` and add new epochs after them (Keras's append=True). */
  append?: boolean;
  /** With append: drop the rows of this epoch and later ones first (a resumed run trains them again). */
  keepEpochs?: number;
  separator?: string;
}

/**
 * Keras's CSVLogger: one row an epoch, columns `epoch` then the metric names sorted
 * (accuracy,loss,val_accuracy,val_loss). Each row is appended and flushed as soon as
 * the epoch ends, so an interrupted run keeps every finished epoch.
 */
export class CSVLogger extends Callback {
  readonly file: string;
  private readonly append: boolean;
  private readonly keepEpochs?: number;
  private readonly sep: string;
  private keys: string[] | null = null;

  constructor(args: CSVLoggerArgs) {
    super();
    this.file = args.file;
    this.append = args.append ?? false;
    this.keepEpochs = args.keepEpochs;
    this.sep = args.separator ?? ',';
  }

  override async onTrainBegin(): Promise<void> {
    await fsp.mkdir(path.dirname(this.file), { recursive: true });
    this.keys = null;
    if (this.append && existsSync(this.file)) {
      const header = readFileSync(this.file, 'utf8').split('\n')[0];
      if (header) this.keys = header.split(this.sep).slice(1);
      await this.dropTornLastLine();
      if (this.keepEpochs !== undefined) await this.dropRowsFrom(this.keepEpochs);
    } else {
      await fsp.writeFile(this.file, '');
    }
  }

  override async onEpochEnd(epoch: number, rawLogs?: Logs): Promise<void> {
    const logs = await resolveLogs(rawLogs);
    if (isPartialEpoch(this.params, logs)) return;
    let prefix = '';
    if (!this.keys) {
      this.keys = Object.keys(logs).sort();
      prefix = `${['epoch', ...this.keys].join(this.sep)}\n`;
    }
    const row = [String(epoch), ...this.keys.map((k) => formatValue(logs[k]))].join(this.sep);
    const fh = await fsp.open(this.file, 'a');
    try {
      await fh.write(`${prefix}${row}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** A crash mid-write could leave a row without its newline; drop it before appending. */
  private async dropTornLastLine(): Promise<void> {
    const text = await fsp.readFile(this.file, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) {
      await fsp.writeFile(this.file, text.slice(0, text.lastIndexOf('\n') + 1));
    }
  }

  private async dropRowsFrom(epoch: number): Promise<void> {
    const lines = (await fsp.readFile(this.file, 'utf8')).split('\n');
    if (!lines[0]) return;
    const kept = [lines[0], ...lines.slice(1).filter((l) => l.trim() !== '' && Number(l.split(this.sep)[0]) < epoch)];
    await writeFileAtomic(this.file, `${kept.join('\n')}\n`);
  }
}

function formatValue(v: number | undefined): string {
  if (v === undefined) return '';
  // Keras writes Python's repr of the float; full precision keeps the log exact.
  return String(v);
}
