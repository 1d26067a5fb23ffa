import type { Command } from 'commander';

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
      const { collectImageFiles, partitionReadable, warnSkipped } = await import('../../data/collect.js');
      const { BadImageError } = await import('../../data/decode.js');
      const { loadClassifier } = await import('../../inference/classifier.js');
      const { toPrediction } = await import('../../inference/predictor.js');
      const classifier = await loadClassifier(o.model);
      let skipped = 0;
      let total = 0;
      try {
        const files = collectImageFiles(inputs, { followLinks: o.followLinks });
        total = files.length;
        // One batch at a time, printed as it comes, so a large folder streams.
        const batch = 16;
        for (let i = 0; i < files.length; i += batch) {
          let chunk = files.slice(i, i + batch);
          let scores: number[][];
          try {
            scores = await classifier.scoresOfFiles(chunk, batch);
          } catch (e) {
            if (!(e instanceof BadImageError) || !o.skipBadImages) throw e;
            // Only a batch holding a bad file pays for finding it: decode each, drop the bad ones.
            const { readable, bad } = await partitionReadable(chunk);
            for (const b of bad) warnSkipped(b.file, b.reason);
            skipped += bad.length;
            chunk = readable;
            scores = chunk.length ? await classifier.scoresOfFiles(chunk, batch) : [];
          }
          for (let j = 0; j < chunk.length; j++) {
            const p = toPrediction(chunk[j], scores[j], classifier.classNames);
            process.stdout.write(o.json ? `${JSON.stringify(p)}\n` : `${p.file}\t${p.label}\t${p.probability.toFixed(4)}\n`);
          }
        }
      } finally {
        await classifier.dispose();
      }
      if (skipped) process.stderr.write(`tlkit: ${skipped} of ${total} images skipped (unreadable).\n`);
    });
}
