/**
 * tlkit's multi-label figures (src/run/multiLabelMetrics.ts) beside scikit-learn's on random
 * matrices: average_precision_score per class, f1_score micro and macro (zero_division=0),
 * accuracy_score (the exact-match ratio) and hamming_loss, at thresholds tlkit chooses. Scores are
 * rounded to a coarse grid in half the cases so that ties are frequent. Prints the largest absolute
 * difference of each figure. Needs Debian's python3-sklearn (installed with apt-get when missing).
 *
 * Run: node --import tsx bench/multiLabelSklearn.ts [--cases 50] [--n 300] [--k 5] [--seed 1]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/io/rng.js';
import { chooseThresholds, multiLabelMetrics } from '../src/run/multiLabelMetrics.js';
import { numberArg } from './args.js';
import { PYTHON, runPythonJson } from './pytorch.js';

const cases = numberArg('--cases', 50);
const n = numberArg('--n', 300);
const k = numberArg('--k', 5);
const rng = new Rng(numberArg('--seed', 1));

interface SklearnCase {
  ap: (number | null)[];
  microF1: number;
  macroF1: number;
  exactMatch: number;
  hammingLoss: number;
}

function ensureSklearn(): boolean {
  const importable = () => spawnSync(PYTHON, ['-c', 'import sklearn'], { stdio: 'ignore' }).status === 0;
  if (importable()) return true;
  if (process.getuid?.() === 0) {
    console.log('installing Debian python3-sklearn with apt-get (once)...');
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '-qq', 'python3-sklearn'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  return importable();
}

if (!ensureSklearn()) {
  console.log('note: scikit-learn is not installed (apt-get install python3-sklearn); nothing to compare against.');
  process.exit(0);
}

const made = Array.from({ length: cases }, (_, c) => {
  const coarse = c % 2 === 0;
  const truth = new Uint8Array(n * k);
  const probs = new Float64Array(n * k);
  for (let i = 0; i < n * k; i++) {
    // Class j is rarer as j grows; the last class of every fifth case has no positive at all.
    const rate = c % 5 === 0 && i % k === k - 1 ? 0 : 0.5 / (1 + (i % k));
    truth[i] = rng.next() < rate ? 1 : 0;
    const p = Math.min(1, Math.max(0, (truth[i] ? 0.6 : 0.35) + (rng.next() - 0.5) * 0.7));
    probs[i] = coarse ? Math.round(p * 10) / 10 : p;
  }
  return { probs, truth, thresholds: chooseThresholds(probs, truth, k) };
});

const rows = (m: ArrayLike<number>) => Array.from({ length: n }, (_, i) => Array.from(m).slice(i * k, (i + 1) * k));
const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-sklearn-')), 'cases.json');
fs.writeFileSync(
  file,
  JSON.stringify({ cases: made.map((m) => ({ k, probs: rows(m.probs), truth: rows(m.truth), thresholds: m.thresholds })) }),
);
const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'multilabel_sklearn.py');
const t0 = performance.now();
const sk = runPythonJson<{ sklearn: string; cases: SklearnCase[] }>(script, [file]);
const sklearnSeconds = (performance.now() - t0) / 1000;

const worst = { ap: 0, mAP: 0, microF1: 0, macroF1: 0, exactMatch: 0, hammingLoss: 0 };
const t1 = performance.now();
const classes = Array.from({ length: k }, (_, j) => `c${j}`);
const ours = made.map((m) => multiLabelMetrics(m.probs, m.truth, classes, m.thresholds));
const tlkitSeconds = (performance.now() - t1) / 1000;
ours.forEach((m, c) => {
  const s = sk.cases[c];
  const aps = s.ap.filter((a): a is number => a !== null);
  s.ap.forEach((a, j) => {
    if (a !== null) worst.ap = Math.max(worst.ap, Math.abs(a - m.perClass[j].averagePrecision));
  });
  const skMap = aps.reduce((x, y) => x + y, 0) / aps.length;
  worst.mAP = Math.max(worst.mAP, Math.abs(skMap - m.meanAveragePrecision));
  for (const key of ['microF1', 'macroF1', 'exactMatch', 'hammingLoss'] as const)
    worst[key] = Math.max(worst[key], Math.abs(s[key] - m[key]));
});
fs.rmSync(path.dirname(file), { recursive: true, force: true });

console.log(`scikit-learn ${sk.sklearn}: ${cases} cases of ${n} images x ${k} classes (half with scores on a 0.1 grid)`);
console.log('largest |tlkit - scikit-learn|:');
for (const [key, v] of Object.entries(worst)) console.log(`  ${key.padEnd(12)} ${v.toExponential(2)}`);
console.log(
  `time: tlkit ${(tlkitSeconds * 1000).toFixed(1)} ms, scikit-learn ${(sklearnSeconds * 1000).toFixed(0)} ms (with Python's start)`,
);
