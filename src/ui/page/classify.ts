import type * as TF from '@tensorflow/tfjs';

// In-page prediction with TensorFlow.js and the run's tfjs export: the same pixels as
// `tlkit predict` (EXIF orientation applied by the browser's decoder, then tlkit's exact
// resize: bilinear, half-pixel centres, no corner alignment), so the same probabilities.

/** tfjs, loaded by a classic <script> (/vendor/tf.min.js) before the page's modules. */
function tfjs(): typeof TF {
  const g = globalThis as unknown as { tf?: typeof TF };
  if (!g.tf) throw new Error('TensorFlow.js did not load (/vendor/tf.min.js).');
  return g.tf;
}

/** The part of an export's metadata.json the page uses. */
export interface ExportMeta {
  labels: string[];
  imageSize: [number, number];
  input: { scale: number; offset: number };
}

export interface Prediction {
  label: string;
  probability: number;
  /** Every class, most probable first. */
  probabilities: Array<{ label: string; probability: number }>;
}

/** Probabilities of every label from the model's output: one sigmoid value (P(labels[1])) or a softmax. */
export function labelled(values: number[], labels: string[]): Prediction {
  const scores = values.length === 1 ? [1 - values[0], values[0]] : values;
  const probabilities = scores
    .map((probability, i) => ({ label: labels[i], probability, i }))
    .sort((a, b) => b.probability - a.probability || a.i - b.i)
    .map(({ label, probability }) => ({ label, probability }));
  return { label: probabilities[0].label, probability: probabilities[0].probability, probabilities };
}

export class PagePredictor {
  private constructor(
    private readonly model: TF.LayersModel,
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
        const pixels = tf.browser.fromPixels(bitmap).toFloat();
        const resized = tf.image.resizeBilinear(pixels, [h, w], false, true);
        const input = resized.mul(scale).add(offset).expandDims(0);
        return Array.from((this.model.predict(input) as TF.Tensor).dataSync());
      });
      return labelled(values, this.meta.labels);
    } finally {
      bitmap.close();
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}
