import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { ensureWritableDir } from '../../io/writableDir.js';
import type { Agreement } from '../../export/agreement.js';
import { AGREEMENT_WARN_BELOW as WARN_BELOW } from '../../export/metadata.js';

const FORMATS = ['tfjs', 'onnx', 'tm', 'keras'];
const QUANTIZE = ['float16', 'uint16', 'uint8'];

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

/** The next more faithful choice after `mode` (float16 holds small values better than uint16's one range; tfjs 1.3.1 (tm) reads no float16). */
function saferThan(mode: string, format: string): string {
  const exact = 'no --quantize (float32 weights, the same predictions as tlkit predict)';
  if (format === 'tm') return mode === 'uint8' ? '--quantize uint16 (2x smaller than float32)' : exact;
  return mode === 'float16' ? exact : '--quantize float16 (2x smaller than float32)';
}

/** The agreement lines of a quantized export, and a warning when it is below WARN_BELOW. */
export function describeAgreement(a: Agreement, mode: string, format: string): { text: string; warning?: string } {
  if (!a.measured && a.skipped) {
    // Asked for: said on stdout (and in metadata.json), no warning.
    return { text: `agreement with the unquantized model: not measured (--skip-agreement; metadata.json records agreement.skipped)\n` };
  }
  if (!a.measured) {
    return {
      text: `agreement with the unquantized model: not measured: ${a.reason}\n`,
      warning: `tlkit: warning: the ${mode} export's predictions were not checked against the unquantized model (metadata.json records agreement.measured: false).\n`,
    };
  }
  const pct = (a.labelAgreement * 100).toFixed(2);
  // multi-label: the labels at or above their thresholds are compared as a set
  const sets = a.compared === 'label set';
  const where = a.split === 'validation' ? `${a.images} validation images` : `${a.images} images`;
  const text =
    `agreement with the unquantized model on ${where} (${a.dir}): ${sets ? 'same label set' : 'same label'} on ${a.sameLabel}/${a.images} (${pct}%), ` +
    `largest probability difference ${a.maxProbabilityDifference.toFixed(4)} (mean ${a.meanProbabilityDifference.toExponential(2)})` +
    (a.skipped?.length ? `; ${a.skipped.length} image${a.skipped.length > 1 ? 's' : ''} that could not be decoded left out` : '') +
    '\n';
  if (a.labelAgreement >= WARN_BELOW) return { text };
  const examples = a.disagreements
    .slice(0, 3)
    .map(
      (d) =>
        `  ${path.basename(d.file)}: ${d.reference.label} ${d.reference.probability.toFixed(4)} -> ${d.quantized.label} ${d.quantized.probability.toFixed(4)}${d.changed ? ` (P(${d.changed}))` : ''}`,
    )
    .join('\n');
  return {
    text,
    warning:
      `tlkit: warning: the ${mode} weights change the predicted label${sets ? ' set' : ''} of ${a.images - a.sameLabel} of ${a.images} images (${pct}% agree, below ${WARN_BELOW * 100}%), e.g.\n${examples}\n` +
      `Use ${saferThan(mode, format)} for predictions that match tlkit predict.\n`,
  };
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
      `store the tfjs weights as ${QUANTIZE.join(', ')} (tfjs-converter's encodings, decoded by tf.loadLayersModel; uint8 keeps small tensors and those 8 bits hold badly at float16, or uint16 with --format tm, whose tfjs 1.3.1 reads no float16). The agreement with the unquantized model on the run's validation images is printed and stored in metadata.json`,
    )
    .option('--data <dir>', "where to measure a quantized export's agreement: a data folder (its validation/), if the run's has moved")
    .option(
      '--skip-agreement',
      'a quantized export without its agreement check against the unquantized model (saves 16-38 s on a MobileNet run); the output and metadata.json say it was not measured',
    )
    .option('--base <model.onnx>', "a run trained on an ONNX base: where that file is now, if it moved (its sha256 must match the run's)")
    .action(
      async (
        runDir: string,
        o: { format: string; out: string; quantize?: string; data?: string; base?: string; skipAgreement?: boolean },
      ) => {
        if (!FORMATS.includes(o.format))
          throw new UserError(`--format must be one of ${FORMATS.join(', ')}, got '${o.format}'. Pass e.g. --format tfjs.`);
        if (o.quantize !== undefined && !QUANTIZE.includes(o.quantize)) {
          throw new UserError(
            `--quantize must be float16, uint16 or uint8, got '${o.quantize}'. Pass e.g. --quantize uint8 (about 4x smaller) or uint16 (2x).`,
          );
        }
        ensureWritableDir('--out', o.out, { keep: false });
        const { exportRun } = await import('../../export/exportRun.js');
        const tty = process.stderr.isTTY;
        const r = await exportRun(runDir, {
          format: o.format as 'tfjs',
          out: o.out,
          quantize: o.quantize as 'uint8' | undefined,
          base: o.base,
          data: o.data,
          skipAgreement: o.skipAgreement,
          onProgress: tty
            ? (done, total) => process.stderr.write(`\rMeasuring the ${o.quantize} weights against float32: ${done}/${total} images`)
            : undefined,
        });
        if (tty && r.agreement?.measured) process.stderr.write('\n');
        const ratio = r.runModelBytes / Math.max(1, r.modelBytes);
        const agreement = r.agreement && o.quantize ? describeAgreement(r.agreement, o.quantize, o.format) : undefined;
        process.stdout.write(
          `Exported ${runDir} as ${r.format}${o.quantize ? ` (${o.quantize} weights)` : ''} to ${path.resolve(r.out)}: ${r.files.join(', ')}\n` +
            `model size ${mb(r.modelBytes)} (the run's model/: ${mb(r.runModelBytes)}, ${ratio.toFixed(2)}x)\n` +
            (agreement?.text ?? '') +
            `input: ${r.metadata.imageSize.join('x')} RGB, resized with ${r.metadata.resize.rule}\n`,
        );
        if (agreement?.warning) process.stderr.write(agreement.warning);
      },
    );
}
