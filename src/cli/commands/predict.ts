import type { Command } from 'commander';
import { collectImageFiles, partitionReadable, warnSkipped } from '../../data/collect.js';
import { BadImageError } from '../../data/decode.js';
import { initBackend } from '../../engine/backend.js';
import { RunPredictor, toPrediction } from '../../train/inference.js';
import { loadRun } from '../../train/runDir.js';

export function register(program: Command): void {
  program
    .command('predict')
    .description("Classify images with a trained run (its own preprocessing and image size, on ONNX Runtime).")
    .requiredOption('--model <run dir>', 'the --out folder of tlkit train')
    .argument('<images...>', 'image files, or folders searched for images (hidden files skipped, symlinked folders not followed)')
    .option('--json', 'print one JSON object a line: {"file","label","probability"}')
    .option('--skip-bad-images', 'skip files that cannot be decoded, with a warning each, instead of stopping')
    .option('--follow-links', 'also search symlinked folders inside the given folders (a loop is followed once)')
    .action(async (inputs: string[], o: { model: string; json?: boolean; skipBadImages?: boolean; followLinks?: boolean }) => {
      await initBackend();
      const run = await loadRun(o.model);
      const files = collectImageFiles(inputs, { followLinks: o.followLinks });
      const predictor = await RunPredictor.create(run.model!, run.meta);
      let skipped = 0;
      try {
        // One batch at a time, printed as it comes, so a large folder streams.
        const batch = 16;
        for (let i = 0; i < files.length; i += batch) {
          let chunk = files.slice(i, i + batch);
          let scores: number[][];
          try {
            scores = await predictor.scores(chunk, batch);
          } catch (e) {
            if (!(e instanceof BadImageError) || !o.skipBadImages) throw e;
            // Only a batch holding a bad file pays for finding it: decode each, drop the bad ones.
            const { readable, bad } = await partitionReadable(chunk);
            for (const b of bad) warnSkipped(b.file, b.reason);
            skipped += bad.length;
            chunk = readable;
            scores = chunk.length ? await predictor.scores(chunk, batch) : [];
          }
          for (let j = 0; j < chunk.length; j++) {
            const p = toPrediction(chunk[j], scores[j], run.meta.classes);
            process.stdout.write(o.json ? `${JSON.stringify(p)}\n` : `${p.file}\t${p.label}\t${p.probability.toFixed(4)}\n`);
          }
        }
      } finally {
        await predictor.dispose();
      }
      if (skipped) process.stderr.write(`tlkit: ${skipped} of ${files.length} images skipped (unreadable).\n`);
    });
}
