import { deriveSeed, Rng } from '../io/rng.js';
import { BadImageError, channelsOf, decodePixels, resizeDecoded } from './decode.js';
import type { CheckedOptions, LabelMode } from './imageDatasetOptions.js';

export interface Batch {
  /** NHWC, float32 values in 0..255; C = 3 (rgb), 4 (rgba) or 1 (grayscale). */
  images: Float32Array;
  shape: [number, number, number, number];
  /** int32 class ids ('int'), float32 0/1 ('binary'), one-hot rows ('categorical') or multi-hot rows ('multi_hot'); empty without labels. */
  labels: Int32Array | Float32Array;
  labelShape: number[];
  /** The files in this batch, in order. */
  files: string[];
}

/** One image without a batch axis (batchSize null, or elements()). */
export interface Element {
  image: Float32Array;
  /** [height, width, channels] */
  shape: [number, number, number];
  /** The class id ('int'), [0/1] ('binary'), the one-hot row ('categorical'), or empty (no labels). */
  label: Int32Array | Float32Array;
  file: string;
}

export interface ImageDataset {
  /** Class names in label order; null without labels (labels or labelMode null), as Keras. */
  classNames: string[] | null;
  /** Files of this dataset (after the split), in their initial (seed-shuffled or sorted) order. */
  files: string[];
  /** Class id of each file in `files` (zeros without labels; multi-label: its first class). */
  labels: Int32Array;
  /** Multi-label: each file's labels, row-major files x classes (1 = the file has that label). */
  targets?: Uint8Array;
  size: number;
  /** Images per batch; 1 when batchSize is null (then `unbatched` is true). */
  batchSize: number;
  unbatched: boolean;
  imageSize: [number, number];
  labelMode: LabelMode | null;
  /** ceil(size / batchSize); fewer batches may come when bad images are skipped. */
  numBatches: number;
  /**
   * One epoch of batches, decoded ahead with bounded memory; reshuffled every epoch when shuffle is on.
   * `epoch` picks the epoch whose order to give (a resumed run's); by default the next one, as tf.data.
   */
  batches(epoch?: number): AsyncIterable<Batch>;
  /** One epoch of single images, [height, width, channels] each (what Keras yields with batch_size=None). */
  elements(): AsyncIterable<Element>;
  /** Files skipped so far because they could not be decoded (skipBadImages). */
  skipped: string[];
  /** Most decodes that were in flight at once so far: at most (prefetch + 1) x batchSize. */
  readonly maxInFlight?: number;
}

type Decoded = { ok: true; pixels: Float32Array } | { ok: false; error: unknown };

export class DirectoryDataset implements ImageDataset {
  readonly size: number;
  readonly numBatches: number;
  readonly batchSize: number;
  readonly imageSize: [number, number];
  readonly labelMode: LabelMode | null;
  readonly unbatched: boolean;
  readonly skipped: string[] = [];
  maxInFlight = 0;
  private epoch = 0;

  constructor(
    readonly classNames: string[] | null,
    readonly files: string[],
    readonly labels: Int32Array,
    private readonly o: CheckedOptions,
    private readonly reshuffle: boolean,
    private readonly seed: number,
    readonly targets?: Uint8Array,
  ) {
    this.size = files.length;
    this.batchSize = o.batchSize;
    this.unbatched = o.unbatched;
    this.imageSize = [o.imageSize[0], o.imageSize[1]];
    this.labelMode = o.labelMode;
    this.numBatches = Math.ceil(this.size / this.batchSize);
  }

  batches(epoch?: number): AsyncIterable<Batch> {
    if (epoch !== undefined) this.epoch = epoch;
    const order = Array.from(this.files.keys());
    if (this.reshuffle) new Rng(deriveSeed(this.seed, this.epoch)).shuffle(order);
    this.epoch++;
    return { [Symbol.asyncIterator]: () => this.iterate(order) };
  }

  elements(): AsyncIterable<Element> {
    const batches = this.batches();
    return {
      [Symbol.asyncIterator]: async function* () {
        for await (const b of batches) {
          const [n, h, w, c] = b.shape;
          const per = h * w * c;
          const labelWidth = b.labels.length / Math.max(n, 1);
          for (let i = 0; i < n; i++) {
            yield {
              image: b.images.slice(i * per, (i + 1) * per),
              shape: [h, w, c] as [number, number, number],
              label: b.labels.slice(i * labelWidth, (i + 1) * labelWidth),
              file: b.files[i],
            };
          }
        }
      },
    };
  }

  private async *iterate(order: number[]): AsyncGenerator<Batch> {
    const [h, w] = this.imageSize;
    const pixelsPer = h * w * channelsOf(this.o.colorMode);
    const decodeOpts = {
      interpolation: this.o.interpolation,
      cropToAspectRatio: this.o.cropToAspectRatio,
      padToAspectRatio: this.o.padToAspectRatio,
      colorMode: this.o.colorMode,
    };
    const decode = (i: number): Promise<Decoded> =>
      decodePixels(this.files[i], undefined, { exif: this.o.exif, alpha: this.o.colorMode === 'rgba' }).then(
        (img) => {
          const pixels = new Float32Array(pixelsPer);
          resizeDecoded(img, this.imageSize, pixels, 0, decodeOpts);
          return { ok: true, pixels } as const;
        },
        (error: unknown) => ({ ok: false, error }) as const,
      );
    // A sliding window of in-flight decodes, consumed in order: memory stays at
    // about (prefetch + 1) batches however large the dataset is.
    const window = (this.o.prefetch + 1) * this.batchSize;
    const pending: Array<{ index: number; result: Promise<Decoded> }> = [];
    let next = 0;
    const fill = () => {
      while (pending.length < window && next < order.length) {
        const index = order[next++];
        pending.push({ index, result: decode(index) });
      }
      this.maxInFlight = Math.max(this.maxInFlight, pending.length);
    };
    fill();
    let items: Array<{ index: number; pixels: Float32Array }> = [];
    while (pending.length) {
      const { index, result } = pending.shift()!;
      const r = await result;
      fill();
      if (!r.ok) {
        this.handleBad(this.files[index], r.error);
      } else {
        items.push({ index, pixels: r.pixels });
      }
      if (items.length === this.batchSize || (pending.length === 0 && items.length > 0)) {
        yield this.assemble(items);
        items = [];
      }
    }
  }

  private handleBad(file: string, error: unknown): void {
    if (!(error instanceof BadImageError)) throw error;
    if (!this.o.skipBadImages) throw error;
    if (!this.skipped.includes(file)) {
      this.skipped.push(file);
      (this.o.onBadImage ?? defaultWarn)(file, error.reason);
    }
  }

  private assemble(items: Array<{ index: number; pixels: Float32Array }>): Batch {
    const [h, w] = this.imageSize;
    const c = channelsOf(this.o.colorMode);
    const n = items.length;
    const per = h * w * c;
    const images = new Float32Array(n * per);
    const k = this.classNames?.length ?? 0;
    items.forEach((it, j) => images.set(it.pixels, j * per));
    const files = items.map((it) => this.files[it.index]);
    const shape: [number, number, number, number] = [n, h, w, c];
    if (this.labelMode === null) return { images, shape, labels: new Int32Array(0), labelShape: [0], files };
    if (this.labelMode === 'int') {
      // Keras yields int32 class ids in 'int' mode, float32 in the two others.
      return { images, shape, labels: Int32Array.from(items, (it) => this.labels[it.index]), labelShape: [n], files };
    }
    const labelWidth = this.labelMode === 'binary' ? 1 : k;
    const labels = new Float32Array(n * labelWidth);
    items.forEach((it, j) => {
      const y = this.labels[it.index];
      if (this.labelMode === 'multi_hot' && this.targets) {
        for (let c = 0; c < k; c++) labels[j * k + c] = this.targets[it.index * k + c];
      } else if (this.labelMode !== 'binary') labels[j * k + y] = 1;
      else labels[j] = y;
    });
    return { images, shape, labels, labelShape: [n, labelWidth], files };
  }
}

function defaultWarn(file: string, reason: string): void {
  process.stderr.write(`tlkit: warning: skipping ${file}: ${reason}\n`);
}
