import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { augmentPreview } from '../../augment/preview.js';
import { FLIP_MODES, type FlipMode } from '../../augment/randomFlip.js';
import { hasImageExtension } from '../../data/decode.js';
import { listClassDirs, listImageFiles, resolveDataDir } from '../../data/splits.js';
import { writeFileAtomic } from '../../util/atomicWrite.js';

/** `tlkit augment-preview <dir|image> --out grid.png [--n 9]`: what augmentation does to one image. */
export function register(program: Command): void {
  program
    .command('augment-preview')
    .description('Write a PNG grid of one image augmented n times (RandomFlip, RandomRotation, RandomZoom with Keras semantics).')
    .argument('<input>', 'an image file, or a data folder (its first training image is used)')
    .requiredOption('--out <file>', 'PNG file to write')
    .option('--n <count>', 'number of augmented copies', '9')
    .option('--image-size <px>', 'tile size (square)', '180')
    .option('--seed <n>', 'random seed (same seed, same grid)')
    .option('--flip <mode>', `flip mode: ${FLIP_MODES.join(', ')} or none`, 'horizontal')
    .option('--rotation <factor>', 'RandomRotation factor (fraction of a full turn)', '0.1')
    .option('--zoom <factor>', 'RandomZoom factor', '0.2')
    .action(async (input: string, o: { out: string; n: string; imageSize: string; seed?: string; flip: string; rotation: string; zoom: string }) => {
      const n = parseInteger(o.n, '--n', 1, 400);
      const imageSize = parseInteger(o.imageSize, '--image-size', 8, 2048);
      const seed = o.seed === undefined ? undefined : parseInteger(o.seed, '--seed', 0, 2 ** 31 - 1);
      if (o.flip !== 'none' && !(FLIP_MODES as readonly string[]).includes(o.flip)) {
        throw new UserError(`--flip must be one of ${FLIP_MODES.join(', ')} or none, got '${o.flip}'.`);
      }
      const rotation = parseFactor(o.rotation, '--rotation');
      const zoom = parseFactor(o.zoom, '--zoom');
      const file = pickImage(input);
      const png = await augmentPreview(file, { n, imageSize, seed, flip: o.flip as FlipMode | 'none', rotation, zoom });
      await writeFileAtomic(o.out, png);
      process.stdout.write(`wrote ${o.out}: ${n} augmentations of ${file}\n`);
    });
}

function pickImage(input: string): string {
  if (!fs.existsSync(input)) throw new UserError(`${input} does not exist. Pass an image file or a data folder.`);
  if (fs.statSync(input).isFile()) {
    if (!hasImageExtension(input)) throw new UserError(`${input} is not a .jpg/.jpeg/.png/.bmp/.gif image. Pass an image file or a data folder.`);
    return input;
  }
  const data = resolveDataDir(input);
  const first = listClassDirs(data.splits.train)[0];
  return listImageFiles(path.join(data.splits.train, first))[0];
}

function parseInteger(v: string, name: string, min: number, max: number): number {
  const x = Number(v);
  if (!Number.isInteger(x) || x < min || x > max) throw new UserError(`${name} must be an integer from ${min} to ${max}, got '${v}'.`);
  return x;
}

function parseFactor(v: string, name: string): number {
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0 || x >= 1) throw new UserError(`${name} must be a number from 0 to 1 (exclusive), got '${v}'.`);
  return x;
}
