import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { augmentPreview } from '../../augment/preview.js';
import { FLIP_MODES, type FlipMode } from '../../augment/randomFlip.js';
import { hasImageExtension } from '../../data/decode.js';
import { listClassDirs, listImageFiles, resolveDataDir } from '../../data/splits.js';
import { writeFileAtomic } from '../../io/atomicWrite.js';
import { checkOutputFile, MAX_SEED, parseIntOption, parseNumberOption } from '../parseOptions.js';

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
    .action(
      async (
        input: string,
        o: { out: string; n: string; imageSize: string; seed?: string; flip: string; rotation: string; zoom: string },
      ) => {
        const n = parseIntOption('--n', o.n, { min: 1, max: 400, example: '9' })!;
        const imageSize = parseIntOption('--image-size', o.imageSize, { min: 8, max: 2048, example: '180' })!;
        const seed = parseIntOption('--seed', o.seed, { min: 0, max: MAX_SEED, example: '1' });
        checkOutputFile('--out', o.out);
        if (o.flip !== 'none' && !(FLIP_MODES as readonly string[]).includes(o.flip)) {
          throw new UserError(`--flip must be one of ${FLIP_MODES.join(', ')} or none, got '${o.flip}'.`);
        }
        const rotation = parseFactor(o.rotation, '--rotation');
        const zoom = parseFactor(o.zoom, '--zoom');
        const file = pickImage(input);
        const png = await augmentPreview(file, { n, imageSize, seed, flip: o.flip as FlipMode | 'none', rotation, zoom });
        await writeFileAtomic(o.out, png);
        process.stdout.write(`wrote ${o.out}: ${n} augmentations of ${file}\n`);
      },
    );
}

function pickImage(input: string): string {
  if (!fs.existsSync(input)) throw new UserError(`${input} does not exist. Pass an image file or a data folder.`);
  if (fs.statSync(input).isFile()) {
    if (!hasImageExtension(input))
      throw new UserError(`${input} is not a .jpg/.jpeg/.png/.bmp/.gif image. Pass an image file or a data folder.`);
    return input;
  }
  const data = resolveDataDir(input);
  const first = listClassDirs(data.splits.train)[0];
  return listImageFiles(path.join(data.splits.train, first))[0];
}

/** A RandomRotation / RandomZoom factor: a fraction in [0, 1). */
function parseFactor(v: string, name: string): number {
  return parseNumberOption(name, v, { min: 0, max: 1, minInclusive: true, maxInclusive: false, example: '0.1' })!;
}
