import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isUserError } from '../errors.js';
import type { ExifMode } from '../data/decode.js';
import { followLauncher } from './hugePages.js';
import { describeSystemError } from './systemErrors.js';

// Each command lives in its own file under ./commands and exports register(program).
// Only the command being run is imported (engines load with it), so that
// `tlkit --version` and `tlkit <command> --help` start at once. Keep alphabetical.
const COMMANDS: Record<string, () => Promise<{ register(program: Command): void }>> = {
  add: () => import('./commands/add.js'),
  'augment-preview': () => import('./commands/augmentPreview.js'),
  'check-data': () => import('./commands/checkData.js'),
  demo: () => import('./commands/demo.js'),
  evaluate: () => import('./commands/evaluate.js'),
  export: () => import('./commands/export.js'),
  extract: () => import('./commands/extract.js'),
  merge: () => import('./commands/merge.js'),
  'lr-find': () => import('./commands/lrFind.js'),
  map: () => import('./commands/map.js'),
  models: () => import('./commands/models.js'),
  predict: () => import('./commands/predict.js'),
  report: () => import('./commands/report.js'),
  review: () => import('./commands/review.js'),
  split: () => import('./commands/split.js'),
  summary: () => import('./commands/summary.js'),
  train: () => import('./commands/train.js'),
  ui: () => import('./commands/ui.js'),
};

function packageVersion(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

const program = new Command();
program
  .name('tlkit')
  .description('Transfer learning for image classification in Node.js (Keras chapter 8.3 workflow).')
  .version(packageVersion(), '-V, --version', 'print the version')
  .addHelpText(
    'after',
    '\nExit status: 0 done; 2 bad input (usage, data, weights), with a one-paragraph message on stderr; 1 an internal error.\nRun `tlkit <command> --help` for the options of a command.',
  )
  // A typo gets commander's hint ("Did you mean --epochs?") and one line on where help is, not the whole help.
  .showHelpAfterError("(run 'tlkit --help' for the commands)")
  .exitOverride()
  // One setting for every command that reads images (train, extract, evaluate, predict, check-data, ...).
  .option(
    '--exif <mode>',
    `EXIF orientation of photos: apply (default: as browsers and phones show them) or ignore (the stored pixels, exactly what Keras reads)`,
    'apply',
  )
  .hook('preAction', async () => {
    const { setExifDefault } = await import('../data/decode.js');
    setExifDefault(program.opts<{ exif: string }>().exif as ExifMode);
  });

/** The commands to register for this command line: the one named, none for --version, all otherwise (help, typos). */
function commandsFor(argv: string[]): string[] {
  const first = argv.find((a) => !a.startsWith('-'));
  if (first && first in COMMANDS) return [first];
  if (!first && argv.some((a) => a === '-V' || a === '--version')) return [];
  return Object.keys(COMMANDS);
}

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

// Relaunched by bin/tlkit.js for huge pages: gone with the launcher, however it ends.
followLauncher();

// `tlkit predict ... | head -2`: the reader has what it wanted; stop quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  reportAndExit(e);
});

try {
  for (const name of commandsFor(process.argv.slice(2))) (await COMMANDS[name]()).register(program);
  for (const command of program.commands) command.showHelpAfterError(`(run 'tlkit ${command.name()} --help' for its options)`);
  await program.parseAsync(process.argv);
} catch (e) {
  reportAndExit(e);
}
