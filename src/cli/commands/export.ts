import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { ensureWritableDir } from '../../io/writableDir.js';

const FORMATS = ['tfjs', 'onnx', 'tm', 'keras'];
const QUANTIZE = ['float16', 'uint8'];

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

export function register(program: Command): void {
  program
    .command('export')
    .description(
      'Export a trained run for another consumer: tfjs (browser, tf.loadLayersModel), onnx (ONNX Runtime, whole model in one file), tm (Teachable Machine, @teachablemachine/image) or keras (a legacy .h5 model for keras.models.load_model); with labels, image size, preprocessing and the resize rule in metadata.json.',
    )
    .argument('<run dir>', 'the --out folder of tlkit train')
    .requiredOption('--format <format>', `${FORMATS.join('|')}`)
    .requiredOption('--out <dir>', 'the folder to write (new, empty, or an earlier tlkit export, which is replaced)')
    .option(
      '--quantize <dtype>',
      `store the tfjs weights as ${QUANTIZE.join(' or ')} (tfjs-converter's encodings, decoded by tf.loadLayersModel; tm: uint8 only, Teachable Machine's tfjs 1.3.1 reads no float16)`,
    )
    .option('--base <model.onnx>', "a run trained on an ONNX base: where that file is now, if it moved (its sha256 must match the run's)")
    .action(async (runDir: string, o: { format: string; out: string; quantize?: string; base?: string }) => {
      if (!FORMATS.includes(o.format))
        throw new UserError(`--format must be one of ${FORMATS.join(', ')}, got '${o.format}'. Pass e.g. --format tfjs.`);
      if (o.quantize !== undefined && !QUANTIZE.includes(o.quantize)) {
        throw new UserError(
          `--quantize must be ${QUANTIZE.join(' or ')}, got '${o.quantize}'. Pass e.g. --quantize uint8 (about 4x smaller).`,
        );
      }
      ensureWritableDir('--out', o.out, { keep: false });
      const { exportRun } = await import('../../export/exportRun.js');
      const r = await exportRun(runDir, {
        format: o.format as 'tfjs',
        out: o.out,
        quantize: o.quantize as 'uint8' | undefined,
        base: o.base,
      });
      const ratio = r.runModelBytes / Math.max(1, r.modelBytes);
      process.stdout.write(
        `Exported ${runDir} as ${r.format}${o.quantize ? ` (${o.quantize} weights)` : ''} to ${path.resolve(r.out)}: ${r.files.join(', ')}\n` +
          `model size ${mb(r.modelBytes)} (the run's model/: ${mb(r.runModelBytes)}, ${ratio.toFixed(2)}x)\n` +
          `input: ${r.metadata.imageSize.join('x')} RGB, resized with ${r.metadata.resize.rule}\n`,
      );
    });
}
