import { promises as fsp } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../io/rng.js';

/**
 * A small two-class image dataset drawn with sharp (from SVG): "circles" and
 * "squares" of random colour, size, position and rotation over a random
 * background with distractor strokes. Book layout: train/ validation/ test/.
 */
export interface ShapesOptions {
  /** Images per class and split. Default { train: 100, validation: 50, test: 50 }. */
  perClass?: { train: number; validation: number; test: number };
  /** Side of the square images. Default 160. */
  size?: number;
  seed?: number;
}

export const SHAPE_CLASSES = ['circles', 'squares'] as const;

function colour(rng: Rng, lightness: [number, number]): string {
  return `hsl(${Math.round(rng.uniform(0, 360))},${Math.round(rng.uniform(35, 90))}%,${Math.round(rng.uniform(lightness[0], lightness[1]))}%)`;
}

export function shapeSvg(kind: (typeof SHAPE_CLASSES)[number], rng: Rng, size: number): string {
  const parts: string[] = [`<rect width="${size}" height="${size}" fill="${colour(rng, [70, 95])}"/>`];
  for (let i = 0; i < 4; i++) {
    const [x1, y1, x2, y2] = [0, 0, 0, 0].map(() => rng.uniform(0, size).toFixed(1));
    parts.push(
      `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="${colour(rng, [40, 80])}" stroke-width="${rng.uniform(1, 4).toFixed(1)}"/>`,
    );
  }
  const r = rng.uniform(0.18, 0.32) * size;
  const cx = rng.uniform(r + 4, size - r - 4);
  const cy = rng.uniform(r + 4, size - r - 4);
  const fill = colour(rng, [20, 55]);
  if (kind === 'circles') {
    parts.push(`<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="${r.toFixed(1)}" fill="${fill}"/>`);
  } else {
    const side = r * 1.7;
    parts.push(
      `<rect x="${(cx - side / 2).toFixed(1)}" y="${(cy - side / 2).toFixed(1)}" width="${side.toFixed(1)}" height="${side.toFixed(1)}" fill="${fill}" transform="rotate(${rng.uniform(-40, 40).toFixed(1)} ${cx.toFixed(1)} ${cy.toFixed(1)})"/>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">${parts.join('')}</svg>`;
}

/** Write the dataset under `root` (train/validation/test, one folder per class, JPEGs); returns root. */
export async function generateShapesDataset(root: string, opts: ShapesOptions = {}): Promise<string> {
  const perClass = opts.perClass ?? { train: 100, validation: 50, test: 50 };
  const size = opts.size ?? 160;
  const rng = new Rng(opts.seed ?? 42);
  for (const [split, n] of Object.entries(perClass)) {
    for (const kind of SHAPE_CLASSES) {
      const dir = path.join(root, split, kind);
      await fsp.mkdir(dir, { recursive: true });
      const jobs: Promise<unknown>[] = [];
      for (let i = 0; i < n; i++) {
        const svg = shapeSvg(kind, rng, size);
        jobs.push(
          sharp(Buffer.from(svg))
            .jpeg({ quality: 90 })
            .toFile(path.join(dir, `${kind.slice(0, -1)}.${i}.jpg`)),
        );
      }
      await Promise.all(jobs);
    }
  }
  return root;
}
