import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { initBackend } from '../../tfjs/backend.js';
import { getFamily, FAMILY_NAMES, type InputShape, isFamilyName } from '../../applications/index.js';
import { loadBase } from '../../applications/loadBase.js';
import { summarizeModel, formatSummary } from '../../report/summary.js';
import { parseNumberOption } from '../parseOptions.js';

/** Parse "H,W,C" (each a positive integer, or "None" for H/W) into an input shape. */
export function parseInputShape(text: string): InputShape {
  const parts = text.split(/[,x]/).map((p) => p.trim());
  const bad = () => new UserError(`--input-shape must be three comma-separated numbers H,W,C such as 180,180,3, got "${text}".`);
  if (parts.length !== 3) throw bad();
  const nums = parts.map((p, i) => {
    if (i < 2 && /^none$/i.test(p)) return null;
    if (!/^\d+$/.test(p) || Number(p) === 0) throw bad();
    return Number(p);
  });
  return nums as InputShape;
}

export function register(program: Command): void {
  program
    .command('summary')
    .description(`Print the Keras 3 model.summary() table of a model family (${FAMILY_NAMES.join(', ')}) or of a base.`)
    .argument('<model>', `model family (${FAMILY_NAMES.join(', ')}), or a base: a tfjs model folder, a Keras .h5 weights file, or nsfwjs`)
    .option('--input-shape <H,W,C>', 'input shape, e.g. 180,180,3 (Keras default: 224,224,3 with the top, None,None,3 without)')
    .option('--include-top', 'include the ImageNet classifier on top of the conv base', false)
    .option('--alpha <a>', 'width multiplier of the MobileNets (default 1.0)')
    .option('--pooling <avg|max>', 'global pooling after the conv base (without the top)')
    .option('--weights <imagenet|none|FILE>', 'also load weights (checks that they fit); the table itself does not depend on them', 'none')
    .option('--json', 'print the summary as one JSON object', false)
    .action(
      async (
        name: string,
        opts: { inputShape?: string; includeTop: boolean; alpha?: string; pooling?: string; weights: string; json: boolean },
      ) => {
        const inputShape = opts.inputShape ? parseInputShape(opts.inputShape) : undefined;
        if (opts.pooling && opts.pooling !== 'avg' && opts.pooling !== 'max') {
          throw new UserError(`--pooling must be avg or max, got "${opts.pooling}".`);
        }
        const alpha = parseNumberOption('--alpha', opts.alpha, { min: 0, example: '0.5' });
        await initBackend();
        let model;
        if (isFamilyName(name.toLowerCase().replace(/-/g, '_')) || (!/[/\\.]/.test(name) && name !== 'nsfwjs')) {
          const family = getFamily(name);
          const args = { includeTop: opts.includeTop, inputShape, pooling: (opts.pooling as 'avg' | 'max' | undefined) ?? null, alpha };
          model =
            opts.weights === 'none'
              ? family.architecture({ ...args, weights: 'none' })
              : await family.build({ ...args, weights: opts.weights });
        } else {
          if (inputShape && (inputShape[0] === null || inputShape[1] === null))
            throw new UserError('--input-shape for a base needs numbers for H and W.');
          const imageSize = inputShape ? ([inputShape[0], inputShape[1]] as [number, number]) : undefined;
          model = (await loadBase({ base: name, imageSize, alpha, weights: opts.weights === 'none' ? undefined : opts.weights })).model;
        }
        const summary = summarizeModel(model);
        process.stdout.write(opts.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
      },
    );
}
