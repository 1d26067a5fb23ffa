import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { launchChromium, needsChromium } from './chromium.js';
import type { Requirement } from './requirements.js';

/**
 * Teachable Machine's own package in Chromium: @teachablemachine/image 0.8.5's browser
 * bundle on the TensorFlow.js it pins (1.3.1, the devDependency alias `tfjs-tm`) as the
 * global `tf`, as Teachable Machine's own snippet loads them, served from 127.0.0.1.
 */

function bundle(pkg: string, file: string): string | undefined {
  try {
    const f = path.join(path.dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), file);
    return fs.existsSync(f) ? f : undefined;
  } catch {
    return undefined;
  }
}

const TM_BUNDLE = bundle('@teachablemachine/image', 'dist/teachablemachine-image.min.js');
const TFJS_1_BUNDLE = bundle('tfjs-tm', 'dist/tf.min.js');

/** What a test of the package needs: Chromium, and the package's bundles (devDependencies). */
export const needsTmPackage: Requirement[] = [
  needsChromium,
  {
    missing:
      !(TM_BUNDLE && TFJS_1_BUNDLE) && '@teachablemachine/image or tfjs-tm (@tensorflow/tfjs 1.3.1) is not installed (devDependencies)',
    install: 'npm ci',
  },
];

/** RGB floats 0..255 (tlkit's resized pixels) as the RGBA bytes a canvas holds: rounded, opaque. */
export function canvasBytes(rgb: Float32Array): Uint8ClampedArray {
  const n = rgb.length / 3;
  const rgba = new Uint8ClampedArray(n * 4);
  for (let p = 0; p < n; p++) {
    rgba[p * 4] = Math.round(rgb[p * 3]);
    rgba[p * 4 + 1] = Math.round(rgb[p * 3 + 1]);
    rgba[p * 4 + 2] = Math.round(rgb[p * 3 + 2]);
    rgba[p * 4 + 3] = 255;
  }
  return rgba;
}

export type TmClasses = Array<{ className: string; probability: number }>;

export interface TmPackageRun {
  /** tf.version.tfjs in the page. */
  tfjs: string;
  labels: string[];
  totalClasses: number;
  /** model.predict(canvas) for each canvas (already at the model's size). */
  onCanvases: TmClasses[];
  /** model.predict(img) for each image file: the package's own centre crop and canvas resize. */
  onImages: TmClasses[];
}

const PAGE =
  '<!DOCTYPE html><html><head><script src="/tf.min.js"></script><script src="/teachablemachine-image.min.js"></script></head><body></body></html>';

function contentType(file: string): string {
  if (file.endsWith('.js')) return 'text/javascript';
  if (file.endsWith('.json')) return 'application/json';
  if (file.endsWith('.jpg') || file.endsWith('.jpeg')) return 'image/jpeg';
  return 'application/octet-stream';
}

/** A 127.0.0.1 server for the page, the two bundles, /model/* (the export folder) and /image/N (the images). */
async function serve(exportDir: string, images: string[]): Promise<{ base: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const name = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (name === '/index.html') return void res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    const file =
      name === '/tf.min.js'
        ? TFJS_1_BUNDLE
        : name === '/teachablemachine-image.min.js'
          ? TM_BUNDLE
          : name.startsWith('/model/')
            ? path.join(exportDir, path.basename(name))
            : name.startsWith('/image/')
              ? images[Number(path.basename(name))]
              : undefined;
    if (!file || !fs.existsSync(file)) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': contentType(file) });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Loads a `tlkit export --format tm` folder with `tmImage.load(model.json, metadata.json)`
 * (tfjs cpu backend) and runs `model.predict` on each canvas (RGBA bytes, height x width)
 * and on each image file as an <img>. Any page error fails the call.
 */
export async function runTmPackage(
  exportDir: string,
  canvases: Uint8ClampedArray[],
  size: [number, number],
  images: string[] = [],
): Promise<TmPackageRun> {
  const server = await serve(exportDir, images);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.base}/index.html`);
    const result = await page.evaluate(
      async ({ canvases, size, images }) => {
        // biome-ignore lint/suspicious/noExplicitAny: the page's globals come from script tags that carry no types
        const g = globalThis as unknown as { tf: any; tmImage: any };
        await g.tf.setBackend('cpu');
        const model = await g.tmImage.load('/model/model.json', '/model/metadata.json');
        const onCanvases: TmClasses[] = [];
        for (const data of canvases) {
          const canvas = document.createElement('canvas');
          canvas.width = size[1];
          canvas.height = size[0];
          (canvas.getContext('2d') as CanvasRenderingContext2D).putImageData(
            new ImageData(Uint8ClampedArray.from(data), size[1], size[0]),
            0,
            0,
          );
          onCanvases.push(await model.predict(canvas));
        }
        const onImages: TmClasses[] = [];
        for (let i = 0; i < images; i++) {
          const img = new Image();
          img.src = `/image/${i}`;
          await img.decode();
          onImages.push(await model.predict(img));
        }
        return {
          tfjs: g.tf.version.tfjs as string,
          labels: model.getClassLabels() as string[],
          totalClasses: model.getTotalClasses() as number,
          onCanvases,
          onImages,
        };
      },
      { canvases: canvases.map((c) => Array.from(c)), size, images: images.length },
    );
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    return result;
  } finally {
    await browser.close();
    await server.close();
  }
}
