import { Command, CommanderError } from 'commander';
import { isUserError } from '../errors.js';
// Each command lives in its own file under ./commands and exports register(program).
// (command registrations: one import + one call each, keep alphabetical)
import { register as registerAugmentPreview } from './commands/augmentPreview.js';
import { register as registerCheckData } from './commands/checkData.js';
import { register as registerDemo } from './commands/demo.js';
import { register as registerEvaluate } from './commands/evaluate.js';
import { register as registerExtract } from './commands/extract.js';
import { register as registerPredict } from './commands/predict.js';
import { register as registerReport } from './commands/report.js';
import { register as registerSummary } from './commands/summary.js';
import { register as registerTrain } from './commands/train.js';

const program = new Command();
program
  .name('tlkit')
  .description('Transfer learning for image classification in Node.js (Keras chapter 8.3 workflow).')
  .showHelpAfterError()
  .exitOverride();

const registrations: Array<(p: Command) => void> = [
  registerAugmentPreview,
  registerCheckData,
  registerDemo,
  registerEvaluate,
  registerExtract,
  registerPredict,
  registerReport,
  registerSummary,
  registerTrain,
];
for (const register of registrations) register(program);

/** Print a user error as one paragraph and exit 2; anything else is an internal error (exit 1). */
export function reportAndExit(e: unknown): never {
  if (e instanceof CommanderError) {
    process.exit(e.exitCode === 0 ? 0 : 2);
  }
  if (isUserError(e)) {
    process.stderr.write(`tlkit: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const err = e as Error;
  process.stderr.write(`tlkit: internal error: ${err?.message ?? String(e)}\n`);
  if (process.env.TLKIT_DEBUG) process.stderr.write(`${err?.stack}\n`);
  else process.stderr.write('(set TLKIT_DEBUG=1 for the stack trace, and please report it)\n');
  process.exit(1);
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  reportAndExit(e);
}
