import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('predict')
    .description("Classify images with a trained run (its own preprocessing and image size, on ONNX Runtime).")
    .requiredOption('--model <run dir>', 'the --out folder of tlkit train')
    .argument('<images...>', 'image files, or folders searched for images')
    .option('--json', 'print one JSON object a line: {"file","label","probability"}')
    .action(async (inputs: string[], o: { model: string; json?: boolean }) => {
      const { loadClassifier } = await import('../../inference/classifier.js');
      const { collectImages, toPrediction } = await import('../../inference/predictor.js');
      const classifier = await loadClassifier(o.model);
      try {
        const files = collectImages(inputs);
        // One batch at a time, printed as it comes, so a large folder streams.
        const batch = 16;
        for (let i = 0; i < files.length; i += batch) {
          const chunk = files.slice(i, i + batch);
          const scores = await classifier.scoresOfFiles(chunk, batch);
          for (let j = 0; j < chunk.length; j++) {
            const p = toPrediction(chunk[j], scores[j], classifier.classNames);
            process.stdout.write(o.json ? `${JSON.stringify(p)}\n` : `${p.file}\t${p.label}\t${p.probability.toFixed(4)}\n`);
          }
        }
      } finally {
        await classifier.dispose();
      }
    });
}
