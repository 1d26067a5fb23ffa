import fs from 'node:fs';
import { UserError } from '../errors.js';
import { BadImageError, decodeRgb, hasImageExtension, IMAGE_EXTENSIONS, type ExifMode } from './decode.js';
import { listAllFiles, type ListOptions } from './splits.js';

/**
 * Image files named on a command line: files as given, folders searched recursively
 * the way datasets are (hidden files skipped, symlinked folders not followed unless
 * followLinks, a symlink loop never followed twice), in Keras's walk order.
 */
export function collectImageFiles(inputs: string[], opts: ListOptions = {}): string[] {
  if (inputs.length === 0)
    throw new UserError('predict needs at least one image file or folder, e.g. `tlkit predict --model runs/demo photo.jpg`.');
  const files: string[] = [];
  const exts = IMAGE_EXTENSIONS.join(', ');
  for (const input of inputs) {
    let st: fs.Stats;
    try {
      st = fs.statSync(input);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw new UserError(`${input} is a symlink loop (it points back to itself). Pass the real file or folder.`);
      throw new UserError(`${input} does not exist. Give image files (${exts}) or folders holding them.`);
    }
    if (st.isDirectory()) {
      const found = listAllFiles(input, opts).filter(hasImageExtension);
      if (found.length === 0) throw new UserError(`The folder ${input} holds no image files (${exts}).`);
      files.push(...found);
    } else files.push(input);
  }
  return files;
}

/** The readable and unreadable files of a list: each file is fully decoded once, `concurrency` at a time. */
export async function partitionReadable(
  files: string[],
  opts: { exif?: ExifMode; concurrency?: number } = {},
): Promise<{ readable: string[]; bad: Array<{ file: string; reason: string }> }> {
  const ok = new Array<boolean>(files.length).fill(true);
  const reasons = new Map<number, string>();
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      try {
        await decodeRgb(files[i], undefined, { exif: opts.exif });
      } catch (e) {
        if (!(e instanceof BadImageError)) throw e;
        ok[i] = false;
        reasons.set(i, e.reason);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));
  return {
    readable: files.filter((_, i) => ok[i]),
    bad: files.flatMap((file, i) => (ok[i] ? [] : [{ file, reason: reasons.get(i)! }])),
  };
}

/** The warning printed for a skipped image (the same line train and extract print). */
export function warnSkipped(file: string, reason: string): void {
  process.stderr.write(`tlkit: warning: skipping ${file}: ${reason}\n`);
}
