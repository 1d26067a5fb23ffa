import type * as TFCore from '@tensorflow/tfjs-core';
import type * as TFLayers from '@tensorflow/tfjs-layers';

/** The global `tf` of the page's scripts: tfjs-core with tfjs-layers added to it. */
type TF = typeof TFCore & typeof TFLayers;

// In-page prediction with TensorFlow.js and the run's tfjs export: the same pixels as
// `tlkit predict` (EXIF orientation applied by the browser's decoder, then tlkit's exact
// resize: bilinear, half-pixel centres, no corner alignment), so the same probabilities.

/** tfjs, loaded by classic <script>s (/vendor/tf-core.min.js, tf-backend-cpu.min.js, tf-layers.min.js) before the page's modules. */
function tfjs(): TF {
  const g = globalThis as unknown as { tf?: TF };
  if (!g.tf?.loadLayersModel)
    throw new Error('TensorFlow.js did not load (/vendor/tf-core.min.js, tf-backend-cpu.min.js, tf-layers.min.js).');
  return g.tf;
}

/** The part of an export's metadata.json the page uses. */
export interface ExportMeta {
  labels: string[];
  imageSize: [number, number];
  input: { scale: number; offset: number };
  /** 'multi-label': one independent sigmoid per label, given at or above its threshold (absent in older exports: single-label). */
  labelMode?: string;
  thresholds?: number[];
}

export interface LabelProbability {
  label: string;
  probability: number;
  /** Multi-label: the label's threshold, and whether the probability reaches it. */
  threshold?: number;
  given?: boolean;
}

export interface Prediction {
  /** The most probable label; multi-label: the labels given, joined by ', ' ('' when none is). */
  label: string;
  /** Its probability; multi-label: the highest probability. */
  probability: number;
  /** Every class, most probable first. */
  probabilities: LabelProbability[];
  /** Multi-label: the labels at or above their thresholds, in the order of labels (possibly none). */
  labels?: string[];
}

/**
 * Probabilities of every label from the model's output: one sigmoid value (P(labels[1])), a
 * softmax, or (with `thresholds`) a multi-label model's independent sigmoids.
 */
export function labelled(values: number[], labels: string[], thresholds?: number[]): Prediction {
  if (thresholds) {
    const given = labels.filter((_, i) => values[i] >= thresholds[i]);
    const probabilities = values
      .map((probability, i) => ({ label: labels[i], probability, threshold: thresholds[i], given: probability >= thresholds[i], i }))
      .sort((a, b) => b.probability - a.probability || a.i - b.i)
      .map(({ i: _, ...p }) => p);
    return { label: given.join(', '), probability: probabilities[0].probability, probabilities, labels: given };
  }
  const scores = values.length === 1 ? [1 - values[0], values[0]] : values;
  const probabilities = scores
    .map((probability, i) => ({ label: labels[i], probability, i }))
    .sort((a, b) => b.probability - a.probability || a.i - b.i)
    .map(({ label, probability }) => ({ label, probability }));
  return { label: probabilities[0].label, probability: probabilities[0].probability, probabilities };
}

export class PagePredictor {
  private constructor(
    private readonly model: TFLayers.LayersModel,
    private readonly meta: ExportMeta,
  ) {}

  /** Load an export folder's model.json and metadata.json (URLs under /files/runs/...). The backend: ?backend=, else cpu (exact float32). */
  static async load(folderUrl: string, backend: string): Promise<PagePredictor> {
    const tf = tfjs();
    if (tf.getBackend() !== backend) await tf.setBackend(backend);
    await tf.ready();
    const meta = (await (await fetch(`${folderUrl}/metadata.json`, { credentials: 'same-origin' })).json()) as ExportMeta;
    const model = await tf.loadLayersModel(`${folderUrl}/model.json`);
    return new PagePredictor(model, meta);
  }

  async classify(image: Blob | ImageBitmapSource): Promise<Prediction> {
    const tf = tfjs();
    // createImageBitmap applies the EXIF orientation (imageOrientation 'from-image'), as tlkit does by default.
    const bitmap = await createImageBitmap(image as ImageBitmapSource);
    const [h, w] = this.meta.imageSize;
    const { scale, offset } = this.meta.input;
    try {
      const values = tf.tidy(() => {
        // functional ops only: tfjs-core's browser bundle does not add chained ops (x.mul(...)) to tensors
        const pixels = tf.cast(tf.browser.fromPixels(bitmap), 'float32');
        const resized = tf.image.resizeBilinear(pixels, [h, w], false, true);
        const input = tf.expandDims(tf.add(tf.mul(resized, scale), offset), 0);
        return Array.from((this.model.predict(input) as TFCore.Tensor).dataSync());
      });
      return labelled(values, this.meta.labels, this.meta.labelMode === 'multi-label' ? this.meta.thresholds : undefined);
    } finally {
      bitmap.close();
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}
