import type { Command } from 'commander';
import { parseIntOption } from '../parseOptions.js';

interface AddFlags {
  data: string;
  batchSize?: string;
  json?: boolean;
}

/** `tlkit add RUN --data DIR`: more images, or whole new classes, into a kNN run; only the new images go through the base. */
export function register(program: Command): void {
  program
    .command('add')
    .description(
      'Store more images in a kNN run (`tlkit train --mode knn`) without rebuilding it: every class folder of DIR (or of its train/) is a class, new or not. Only images the run does not store yet (or whose file changed) go through the base; predict, evaluate and export then know them. Nothing stored is removed.',
    )
    .argument('<run>', 'the run folder of a kNN run')
    .requiredOption('--data <dir>', 'class folders of images to add (a new folder name adds a class)')
    .option('--batch-size <n>', 'images a call of the base', '16')
    .option('--json', 'print the result as one JSON object on stdout')
    .action(async (run: string, o: AddFlags) => {
      const batchSize = parseIntOption('--batch-size', o.batchSize, { min: 1, max: 4096, example: '16' });
      const { addToKnnRun } = await import('../../workflows/knnAdd.js');
      const r = await addToKnnRun(run, { data: o.data, batchSize, log: (l) => process.stderr.write(`${l}\n`) });
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r)}\n`);
        return;
      }
      const classes = r.newClasses.length > 0 ? `, new classes: ${r.newClasses.join(', ')}` : '';
      const replaced = r.replaced > 0 ? ` (${r.replaced} of them changed files stored again)` : '';
      process.stdout.write(
        r.imagesThroughBase === 0
          ? `Nothing to add: ${run} already stores every image of ${o.data} as it is (${r.count} images, ${r.classes.length} classes).\n`
          : `Added ${r.added + r.replaced} images${replaced}${classes}; the base ran on ${r.imagesThroughBase} images. ${run} stores ${r.count} images of ${r.classes.length} classes: ${r.classes.join(', ')}.\n`,
      );
    });
}
