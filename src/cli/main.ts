import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isUserError } from '../errors.js';
import { describeSystemError } from './systemErrors.js';
// Each command lives in its own file under ./commands and exports register(program).
// (command registrations: one import + one call each, keep alphabetical)
import { register as registerAugmentPreview } from './commands/augmentPreview.js';
import { register as registerCheckData } from './commands/checkData.js';
import { register as registerDemo } from './commands/demo.js';
import { register as registerEvaluate } from './commands/evaluate.js';
import { register as registerExtract } from './commands/extract.js';
import { register as registerModels } from './commands/models.js';
import { register as registerPredict } from './commands/predict.js';
import { register as registerReport } from './commands/report.js';
import { register as registerSummary } from './commands/summary.js';
import { register as registerTrain } from './commands/train.js';

function packageVersion(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

const program = new Command();
program
  .name('tlkit')
  .description('Transfer learning for image classification in Node.js (Keras chapter 8.3 workflow).')
  .version(packageVersion(), '-V, --version', 'print the version')
  .addHelpText('after', '\nExit status: 0 done; 2 bad input (usage, data, weights), with a one-paragraph message on stderr; 1 an internal error.\nRun `tlkit <command> --help` for the options of a command.')
  .showHelpAfterError()
  .exitOverride();

const registrations: Array<(p: Command) => void> = [
  registerAugmentPreview,
  registerCheckData,
  registerDemo,
  registerEvaluate,
  registerExtract,
  registerModels,
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
  const systemError = describeSystemError(e);
  if (systemError) {
    process.stderr.write(`tlkit: ${systemError}\n`);
    process.exit(2);
  }
  const err = e as Error;
  process.stderr.write(`tlkit: internal error: ${err?.message ?? String(e)}\n`);
  if (process.env.TLKIT_DEBUG) process.stderr.write(`${err?.stack}\n`);
  else process.stderr.write('(set TLKIT_DEBUG=1 for the stack trace, and please report it)\n');
  process.exit(1);
}

// Safety net: an error escaping outside the awaited chain (work started ahead, a
// timer) still gets the one-paragraph message and the right exit status, instead of
// Node's (or the tfjs wasm runtime's) stack dump. Registered before any backend loads.
process.on('unhandledRejection', (e) => reportAndExit(e));
process.on('uncaughtException', (e) => reportAndExit(e));

try {
  await program.parseAsync(process.argv);
} catch (e) {
  reportAndExit(e);
}
