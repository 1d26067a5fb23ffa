import { TRAIN_MODES, TRAIN_OPTIONS, type TrainOption } from './trainOptions.js';

// docs/options.md, made from the options' declaration by `npm run docs:options`; a test
// fails when the committed file differs from what this makes.

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\n/g, ' ');
const code = (s: string) => `\`${s}\``;

function flagOf(o: TrainOption): string {
  const valueless = o.kind.name === 'switch' || o.sets !== undefined;
  return valueless ? o.flag : `${o.flag} <${o.arg ?? o.kind.arg}>`;
}

function defaultOf(o: TrainOption): string {
  if (o.presence === 'required') return 'required';
  if (o.sets !== undefined) return `${code(JSON.stringify(o.default))} (the flag sets ${code(JSON.stringify(o.sets))})`;
  if (o.default !== undefined) return code(JSON.stringify(o.default));
  return cell(o.defaultText ?? '');
}

function appliesTo(o: TrainOption): string {
  const modes = o.modes ?? TRAIN_MODES;
  const parts = [modes.length === TRAIN_MODES.length ? 'all' : o.needsAugment ? 'augment; finetune with `augment`' : modes.join(', ')];
  if (o.base === 'onnx') parts.push('ONNX base only');
  if (o.base === 'family') parts.push('not with an ONNX base');
  return parts.join('; ');
}

export function optionsTable(): string {
  const rows = TRAIN_OPTIONS.map(
    (o) => `| ${code(o.api)} | ${code(flagOf(o))} | ${cell(o.kind.expect)} | ${defaultOf(o)} | ${appliesTo(o)} | ${cell(o.help)} |`,
  );
  return [
    '# Training options',
    '',
    '<!-- Made by `npm run docs:options` from src/workflows/trainOptions.ts; do not edit by hand. -->',
    '',
    'Every option of `train()` and `tlkit train`, declared once in `src/workflows/trainOptions.ts`: the library',
    'takes the name in code, the command line the flag, and the page of `tlkit ui` shows a field for each option',
    'it does not set itself. Errors name the option the way the caller wrote it (`epochs` from code, `--epochs`',
    'from the command line). An option given in a mode that does not read it is an error, not silently ignored.',
    '',
    '| In code | Flag | Value | Default | Modes | What it does |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
