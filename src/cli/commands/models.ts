import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { initBackend } from '../../tfjs/backend.js';
import { FAMILY_NAMES, getFamily, type FamilyName } from '../../applications/index.js';
import { allFamilyInfo, benchExtraction, type FamilyInfo } from '../../applications/catalog.js';
import { withCommas } from '../../report/summary.js';
import { parseImageSizeOption, parseNumberOption } from '../parseOptions.js';

interface ModelsArgs {
  families?: string;
  bench: boolean;
  imageSize?: string;
  benchSeconds?: string;
  json: boolean;
}

/** A plain text table: header, rule, rows; numbers right-aligned. */
export function formatModelsTable(rows: FamilyInfo[], bench: boolean): string {
  const header = ['family', 'params (base)', 'params (top)', 'GFLOPs', 'size', 'preprocessing', 'default unfreeze', 'weights offline'];
  if (bench) header.push('extract images/s');
  const right = new Set([1, 2, 3, 4, 8]);
  const cells = rows.map((r) => {
    const offline = r.weightsPath ? 'yes (cached)' : r.offlineAlternative ? `no; ${r.offlineAlternative.split(' ')[0]} yes` : 'no';
    const line = [
      r.family,
      withCommas(r.baseParams),
      withCommas(r.topParams),
      r.gflops.toFixed(2),
      String(r.defaultSize),
      r.preprocessing,
      `${r.unfreezeText} (${r.unfreezeLayers} layers)`,
      offline,
    ];
    if (bench) line.push(r.imagesPerSecond === undefined ? '-' : r.imagesPerSecond.toFixed(1));
    return line;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const fmt = (c: string[]) =>
    c
      .map((v, i) => (right.has(i) ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const notes = [
    '',
    'params: conv base (include_top false) and whole ImageNet classifier. GFLOPs: conv base, one image at the default size (multiply-add = 2).',
    'default unfreeze: the last stage, the layers fine-tuning should train (FAMILIES table). weights offline: the Keras file is in the cache (TLKIT_CACHE or ~/.keras/models).',
  ];
  if (bench) notes.push('extract images/s: ONNX Runtime on this machine, batch 8, random weights, decoding excluded.');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(fmt), ...notes].join('\n') + '\n';
}

function parseFamilies(text: string | undefined): FamilyName[] {
  if (!text) return [...FAMILY_NAMES];
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0)
    throw new UserError(`--families must list model families separated by commas (${FAMILY_NAMES.join(', ')}), got "${text}".`);
  return names.map((n) => getFamily(n).name);
}

export function register(program: Command): void {
  program
    .command('models')
    .description(
      'List the model families: parameters, GFLOPs at the default size, preprocessing, default fine-tuning point, and whether pretrained weights are on this machine.',
    )
    .option('--families <list>', `comma-separated families (default: all of ${FAMILY_NAMES.join(', ')})`)
    .option('--bench', 'also measure feature extraction images/s on this machine (ONNX Runtime, batch 8, random weights)', false)
    .option('--image-size <n>', "with --bench: square input size (default: each family's own)")
    .option('--bench-seconds <s>', 'with --bench: seconds measured per family (default 3)')
    .option('--json', 'print one JSON object per family, a line each', false)
    .action(async (a: ModelsArgs) => {
      const families = parseFamilies(a.families);
      const size = parseImageSizeOption(a.imageSize);
      const seconds = parseNumberOption('--bench-seconds', a.benchSeconds, { min: 0, example: '3' });
      if ((size !== undefined || seconds !== undefined) && !a.bench) {
        throw new UserError('--image-size and --bench-seconds only apply with --bench; add --bench, or drop them.');
      }
      await initBackend();
      const rows = allFamilyInfo(families);
      if (a.bench) {
        for (const r of rows) r.imagesPerSecond = await benchExtraction(r.family, { size, seconds });
      }
      if (a.json) process.stdout.write(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      else process.stdout.write(formatModelsTable(rows, a.bench));
    });
}
