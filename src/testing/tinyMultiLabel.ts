import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { TINY_SIZE } from './tinyRun.js';

/** The labels of the tiny multi-label set: each names a colour channel that is bright in the image. */
export const TINY_COLOURS = ['blue', 'green', 'red'] as const;

export interface TinyMultiLabelSet {
  /** The flat data folder. */
  data: string;
  /** labels.csv over it: file,tags,is_valid; tags separated by spaces. */
  table: string;
  /** Each image's labels, by file name (relative to `data`). */
  labels: Record<string, string[]>;
}

/**
 * A flat folder of 16x16 PNGs, each with a bright red, green and/or blue channel (the
 * others dark, with noise), labelled in labels.csv with the bright ones: one, two or all
 * three colours an image, every combination in both the training and the validation rows.
 * A head on a tiny base learns it in a few epochs. Deterministic.
 */
export async function makeTinyMultiLabelSet(root: string, perCombination = { train: 3, validation: 2 }): Promise<TinyMultiLabelSet> {
  let s = 11;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const data = path.join(root, 'images');
  fs.mkdirSync(data, { recursive: true });
  // Every non-empty subset of the three colours: 1..7 as bit masks.
  const combos = [1, 2, 3, 4, 5, 6, 7].map((mask) => TINY_COLOURS.filter((_, c) => mask & (1 << c)));
  const rows = ['file,tags,is_valid'];
  const labels: Record<string, string[]> = {};
  let id = 0;
  for (const [split, n] of Object.entries(perCombination)) {
    for (const combo of combos) {
      for (let i = 0; i < n; i++) {
        const px = Buffer.alloc(TINY_SIZE * TINY_SIZE * 3);
        for (let p = 0; p < TINY_SIZE * TINY_SIZE; p++) {
          // Channel order in the PNG is r, g, b.
          (['red', 'green', 'blue'] as const).forEach((colour, ch) => {
            px[p * 3 + ch] = combo.includes(colour) ? 150 + rand() * 100 : rand() * 90;
          });
        }
        const name = `img${String(id++).padStart(3, '0')}.png`;
        await sharp(px, { raw: { width: TINY_SIZE, height: TINY_SIZE, channels: 3 } })
          .png()
          .toFile(path.join(data, name));
        labels[name] = [...combo];
        rows.push(`${name},${combo.join(' ')},${split === 'validation'}`);
      }
    }
  }
  const table = path.join(root, 'labels.csv');
  fs.writeFileSync(table, `${rows.join('\n')}\n`);
  return { data, table, labels };
}
