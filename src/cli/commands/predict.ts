import type { Command } from 'commander';
import { initBackend } from '../../engine/backend.js';
import { collectImages, RunPredictor, toPrediction } from '../../inference/predictor.js';
import { loadRun } from '../../run/runDir.js';

export function register(program: Command): void {
  program
    .command('predict')
    .description("Classify images with a trained run (its own preprocessing and image size, on ONNX Runtime).")
    .requiredOption('--model <run dir>', 'the --out folder of tlkit train')
    .argument('<images...>', 'image files, or folders searched for images')
    .option('--json', 'print one JSON object a line: {"file","label","probability"}')
    .action(async (inputs: string[], o: { model: string; json?: boolean }) => {
      await initBackend();
      const run = await loadRun(o.model);
      const files = collectImages(inputs);
      const predictor = await RunPredictor.create(run.model!, run.meta);
      try {
        // One batch at a time, printed as it comes, so a large folder streams.
        const batch = 16;
        for (let i = 0; i < files.length; i += batch) {
          const chunk = files.slice(i, i + batch);
          const scores = await predictor.scores(chunk, batch);
          for (let j = 0; j < chunk.length; j++) {
            const p = toPrediction(chunk[j], scores[j], run.meta.classes);
            process.stdout.write(o.json ? `${JSON.stringify(p)}\n` : `${p.file}\t${p.label}\t${p.probability.toFixed(4)}\n`);
          }
        }
      } finally {
        await predictor.dispose();
      }
    });
}
