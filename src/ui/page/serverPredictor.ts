// Try it for a kNN run: its stored features vote on the server (POST /api/runs/:id/predict,
// `tlkit predict`'s classifier), since no tfjs model in the page holds them.
import type { Prediction } from './classify.js';

async function bytesOf(image: Blob | HTMLVideoElement): Promise<Blob> {
  if (image instanceof Blob) return image;
  // A webcam frame, as a PNG (lossless: the server decodes the same pixels).
  const canvas = document.createElement('canvas');
  canvas.width = image.videoWidth;
  canvas.height = image.videoHeight;
  canvas.getContext('2d')?.drawImage(image, 0, 0);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('No webcam frame.'))), 'image/png'));
}

export class ServerPredictor {
  constructor(private readonly run: string) {}

  async classify(image: Blob | HTMLVideoElement): Promise<Prediction> {
    const r = await fetch(`/api/runs/${encodeURIComponent(this.run)}/predict`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/octet-stream' },
      body: await bytesOf(image),
    });
    const body = (await r.json()) as Prediction & { error?: string };
    if (!r.ok) throw new Error(body.error ?? `${r.status} ${r.statusText}`);
    return body;
  }

  dispose(): void {}
}
