/**
 * tlkit's learning-rate schedules beside PyTorch's own schedulers, step for step, for a
 * run of `--epochs` epochs of `--steps` batches: one-cycle against OneCycleLR (its rate and
 * Adam's beta1), cosine with warmup against SequentialLR(LinearLR, CosineAnnealingLR), and
 * the warmup of the constant schedule against LinearLR. The figure is the largest relative
 * difference of each column. Without PyTorch (Debian's python3-torch) it says so and prints
 * tlkit's values alone.
 *
 * Run: node --import tsx bench/schedules.ts [--epochs 3] [--steps 7] [--lr 1e-3] [--warmup 0.2]
 *      [--div 25] [--final-div 1e5] [--pct-start 0.25]
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { scheduleRates, warmupSteps, type ScheduleSpec } from '../src/fit/schedule.js';
import { numberArg } from './args.js';
import { ensureTorch, runPythonJson } from './pytorch.js';

const epochs = numberArg('--epochs', 3);
const steps = numberArg('--steps', 7);
const lr = numberArg('--lr', 1e-3);
const warmup = numberArg('--warmup', 0.2);
const div = numberArg('--div', 25);
const finalDiv = numberArg('--final-div', 1e5);
const pctStart = numberArg('--pct-start', 0.25);
const total = epochs * steps;
const w = warmupSteps(total, warmup);

const at = (spec: ScheduleSpec) => {
  const rates = scheduleRates(spec, lr);
  return Array.from({ length: total }, (_, s) => rates(s, total));
};
const ours = {
  oneCycle: at({ name: 'one-cycle', div, finalDiv, pctStart }),
  cosine: at({ name: 'cosine', warmup }),
  constant: at({ name: 'constant', warmup }),
};

type Torch = { torch: string; oneCycle: Array<[number, number]>; cosine: number[]; constant: number[] };
const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'schedules_pytorch.py');
const torch = ensureTorch()
  ? runPythonJson<Torch>(script, [JSON.stringify({ total, lr, div, finalDiv, pctStart, warmupSteps: w })])
  : undefined;

console.log(
  `${epochs} epochs x ${steps} batches = ${total} steps, lr ${lr}; one-cycle div ${div}, final div ${finalDiv} (PyTorch final_div_factor ${finalDiv / div}), pct start ${pctStart}; warmup ${warmup} = ${w} steps`,
);
console.log(torch ? `PyTorch ${torch.torch}, its schedulers stepped once after every batch` : 'PyTorch: not installed, tlkit alone');
const e = (v: number | undefined) => (v === undefined ? '' : v.toExponential(6));
const header = ['step', 'epoch.batch', 'one-cycle lr', 'torch', 'beta1', 'torch', 'cosine lr', 'torch', 'constant lr', 'torch'];
console.log(header.map((h, i) => h.padStart(i < 2 ? 5 : 13)).join(' '));
for (let s = 0; s < total; s++) {
  const t = torch;
  const cells = [
    String(s),
    `${Math.floor(s / steps)}.${s % steps}`,
    e(ours.oneCycle[s].learningRate),
    e(t?.oneCycle[s][0]),
    (ours.oneCycle[s].momentum as number).toFixed(6),
    t ? t.oneCycle[s][1].toFixed(6) : '',
    e(ours.cosine[s].learningRate),
    e(t?.cosine[s]),
    e(ours.constant[s].learningRate),
    e(t?.constant[s]),
  ];
  console.log(cells.map((c, i) => c.padStart(i < 2 ? 5 : 13)).join(' '));
}

if (torch) {
  const worst = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]) / Math.max(Math.abs(b[i]), Number.MIN_VALUE)));
  const rows: Array<[string, number]> = [
    [
      'one-cycle lr vs OneCycleLR',
      worst(
        ours.oneCycle.map((r) => r.learningRate),
        torch.oneCycle.map((r) => r[0]),
      ),
    ],
    [
      'one-cycle beta1 vs OneCycleLR',
      worst(
        ours.oneCycle.map((r) => r.momentum as number),
        torch.oneCycle.map((r) => r[1]),
      ),
    ],
    [
      'cosine vs SequentialLR(LinearLR, CosineAnnealingLR)',
      worst(
        ours.cosine.map((r) => r.learningRate),
        torch.cosine,
      ),
    ],
    [
      'constant warmup vs LinearLR',
      worst(
        ours.constant.map((r) => r.learningRate),
        torch.constant,
      ),
    ],
  ];
  console.log('largest relative difference, tlkit vs PyTorch:');
  for (const [what, v] of rows) console.log(`  ${what}: ${v.toExponential(2)}`);
}
