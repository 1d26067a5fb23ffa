import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { HistoryData } from '../run/history.js';
import { svgText, escapeXml, textWidth } from './strokeFont.js';

/**
 * The book's two figures (Deep Learning with Python, 8.3): training values as blue
 * dots ("bo"), validation values as a blue line ("b"), epochs 1..N on x, a legend,
 * and optionally a dashed vertical marker where fine-tuning started.
 * Hand-written SVG with text drawn as strokes (see strokeFont.ts), rendered to PNG by resvg.
 */
export interface CurveChart {
  title: string;
  yLabel: string;
  training: number[];
  validation: number[];
  trainingLabel: string;
  validationLabel: string;
  /** 1-based epoch where fine-tuning started (marker drawn just before it). */
  markerEpoch?: number;
  markerLabel?: string;
  /** y axis scale; 'log' draws only positive values. Default 'linear'. */
  scale?: 'linear' | 'log';
}

/** Above this ratio between the largest and smallest value (two decades), the loss is drawn on a log scale. */
export const LOG_SCALE_RATIO = 100;

/** 'log' when the positive finite values span more than two decades (one spike would flatten a linear plot). */
export function chooseScale(values: number[]): 'linear' | 'log' {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length < 2 || v.some((x) => x <= 0)) return 'linear';
  return Math.max(...v) / Math.min(...v) > LOG_SCALE_RATIO ? 'log' : 'linear';
}

function formatLogTick(k: number): string {
  // 10^k as plain decimals: 0.001, 0.01, 0.1, 1, 10, 100.
  return k >= 0 ? String(10 ** k) : (10 ** k).toFixed(-k);
}

const W = 640;
const H = 480;
const M = { left: 84, right: 24, top: 48, bottom: 60 };
const BLUE = '#1f77b4';

export function curveChartSvg(c: CurveChart): string {
  const n = Math.max(c.training.length, c.validation.length);
  const xs = Array.from({ length: n }, (_, i) => i + 1);
  const log = c.scale === 'log';
  const drawable = (v: number) => Number.isFinite(v) && (!log || v > 0);
  const tv = (v: number) => (log ? Math.log10(v) : v);
  const values = [...c.training, ...c.validation].filter(drawable).map(tv);
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  if (hi - lo < 1e-9) {
    lo -= 0.5;
    hi += 0.5;
  }
  const pad = (hi - lo) * 0.05;
  const yTicks = log
    ? Array.from({ length: Math.ceil(hi + pad) - Math.floor(lo - pad) + 1 }, (_, i) => Math.floor(lo - pad) + i).filter(
        (k) => k >= lo - pad && k <= hi + pad,
      )
    : niceTicks(lo - pad, hi + pad, 6);
  const yMin = log ? lo - pad : Math.min(lo - pad, yTicks[0]);
  const yMax = log ? hi + pad : Math.max(hi + pad, yTicks[yTicks.length - 1]);
  const xMin = n > 1 ? 1 - (n - 1) * 0.05 : 0;
  const xMax = n > 1 ? n + (n - 1) * 0.05 : 2;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const sx = (x: number) => M.left + ((x - xMin) / (xMax - xMin)) * plotW;
  /** A value (not yet on the log scale) to its pixel row. */
  const sy = (y: number) => M.top + (1 - (tv(y) - yMin) / (yMax - yMin)) * plotH;
  const syT = (t: number) => M.top + (1 - (t - yMin) / (yMax - yMin)) * plotH;
  const xTicks = niceTicks(1, Math.max(2, n), 8).filter((t) => Number.isInteger(t) && t >= 1 && t <= Math.max(1, n));

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeXml(c.title)}">`,
  );
  out.push(`<title>${escapeXml(c.title)}</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  // Axes box.
  out.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#222" stroke-width="1"/>`);
  for (const t of yTicks) {
    if (t < yMin || t > yMax) continue;
    const y = r(syT(t));
    out.push(`<line x1="${M.left - 5}" y1="${y}" x2="${M.left}" y2="${y}" stroke="#222"/>`);
    out.push(svgText(log ? formatLogTick(t) : formatTick(t, yTicks), M.left - 9, y + 5, 10, { anchor: 'end' }));
  }
  for (const t of xTicks) {
    const x = r(sx(t));
    out.push(`<line x1="${x}" y1="${M.top + plotH}" x2="${x}" y2="${M.top + plotH + 5}" stroke="#222"/>`);
    out.push(svgText(String(t), x, M.top + plotH + 20, 10, { anchor: 'middle' }));
  }
  out.push(svgText(c.title, W / 2, 30, 14, { anchor: 'middle' }));
  out.push(svgText('Epochs', M.left + plotW / 2, H - 14, 11, { anchor: 'middle' }));
  out.push(svgText(log ? `${c.yLabel} (log scale)` : c.yLabel, 20, M.top + plotH / 2, 11, { anchor: 'middle', rotate: -90 }));

  const line = c.validation.map((v, i) => (drawable(v) ? `${r(sx(xs[i]))},${r(sy(v))}` : null)).filter((p): p is string => p !== null);
  if (line.length > 0)
    out.push(
      `<polyline class="validation" points="${line.join(' ')}" fill="none" stroke="${BLUE}" stroke-width="2" stroke-linejoin="round"/>`,
    );
  c.training.forEach((v, i) => {
    if (drawable(v)) out.push(`<circle class="training" cx="${r(sx(xs[i]))}" cy="${r(sy(v))}" r="4" fill="${BLUE}"/>`);
  });

  // Legend in the corner that hides the fewest points (matplotlib's loc="best", simplified).
  const legendW = 50 + Math.max(textWidth(c.trainingLabel, 10), textWidth(c.validationLabel, 10));
  const legendH = 48;
  const points = [...c.training, ...c.validation]
    .map((v, i) => [sx(xs[i % n]), drawable(v) ? sy(v) : NaN] as const)
    .filter(([, y]) => Number.isFinite(y));
  const corners = [
    [M.left + plotW - legendW - 12, M.top + 12],
    [M.left + plotW - legendW - 12, M.top + plotH - legendH - 12],
    [M.left + 12, M.top + 12],
    [M.left + 12, M.top + plotH - legendH - 12],
  ];
  const hidden = ([x0, y0]: number[]) =>
    points.filter(([x, y]) => x >= x0 - 6 && x <= x0 + legendW + 6 && y >= y0 - 6 && y <= y0 + legendH + 6).length;
  const [lx, ly] = corners.reduce((best, cnr) => (hidden(cnr) < hidden(best) ? cnr : best));
  out.push(
    `<rect class="legend" x="${r(lx)}" y="${r(ly)}" width="${r(legendW)}" height="${legendH}" rx="3" fill="#ffffff" fill-opacity="0.85" stroke="#ccc"/>`,
  );
  out.push(`<circle cx="${lx + 20}" cy="${ly + 15}" r="4" fill="${BLUE}"/>`);
  out.push(svgText(c.trainingLabel, lx + 38, ly + 20, 10));
  out.push(`<line x1="${lx + 8}" y1="${ly + 34}" x2="${lx + 32}" y2="${ly + 34}" stroke="${BLUE}" stroke-width="2"/>`);
  out.push(svgText(c.validationLabel, lx + 38, ly + 39, 10));
  if (c.markerEpoch !== undefined && c.markerEpoch >= 1 && c.markerEpoch <= n) {
    // Half an epoch before the first fine-tuning epoch, kept inside the plot (fine-tuning from epoch 1 marks the left edge).
    const x = r(Math.min(M.left + plotW, Math.max(M.left, sx(c.markerEpoch - 0.5))));
    out.push(
      `<line class="marker" x1="${x}" y1="${M.top}" x2="${x}" y2="${M.top + plotH}" stroke="#888" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    );
    // The label goes right of the marker, or left of it when it would cross the plot's right edge: never clipped.
    const label = c.markerLabel ?? 'Fine-tuning';
    const width = textWidth(label, 9);
    const right = x + 6 + width <= M.left + plotW - 4;
    const lx2 = right ? x + 6 : Math.max(M.left + 4 + width, x - 6);
    out.push(
      `<g class="marker-label">${svgText(label, lx2, ly > M.top + plotH / 2 ? M.top + 18 : M.top + plotH - 10, 9, { color: '#555', anchor: right ? 'start' : 'end' })}</g>`,
    );
  }

  out.push('</svg>');
  return out.join('\n');
}

export function accuracyChart(h: HistoryData): CurveChart {
  return {
    title: 'Training and validation accuracy',
    yLabel: 'Accuracy',
    training: h.history.accuracy ?? h.history.acc ?? [],
    validation: h.history.val_accuracy ?? h.history.val_acc ?? [],
    trainingLabel: 'Training accuracy',
    validationLabel: 'Validation accuracy',
    ...marker(h),
  };
}

export function lossChart(h: HistoryData): CurveChart {
  return {
    title: 'Training and validation loss',
    yLabel: 'Loss',
    training: h.history.loss ?? [],
    validation: h.history.val_loss ?? [],
    trainingLabel: 'Training loss',
    validationLabel: 'Validation loss',
    scale: chooseScale([...(h.history.loss ?? []), ...(h.history.val_loss ?? [])]),
    ...marker(h),
  };
}

function marker(h: HistoryData): Pick<CurveChart, 'markerEpoch' | 'markerLabel'> {
  if (h.fineTuneStartEpoch === undefined) return {};
  // fineTuneStartEpoch is an index into the history (0-based); the x axis counts from 1.
  return { markerEpoch: h.fineTuneStartEpoch + 1, markerLabel: 'Fine-tuning starts' };
}

export function svgToPng(svg: string, scale = 1.5): Uint8Array {
  const resvg = new Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, font: { loadSystemFonts: false }, background: '#ffffff' });
  return resvg.render().asPng();
}

export interface PlotFiles {
  accuracySvg: string;
  accuracyPng: string;
  lossSvg: string;
  lossPng: string;
}

/** Write accuracy.svg/.png and loss.svg/.png into `dir` (atomically). */
export async function writeHistoryPlots(h: HistoryData, dir: string): Promise<PlotFiles> {
  const files: PlotFiles = {
    accuracySvg: path.join(dir, 'accuracy.svg'),
    accuracyPng: path.join(dir, 'accuracy.png'),
    lossSvg: path.join(dir, 'loss.svg'),
    lossPng: path.join(dir, 'loss.png'),
  };
  for (const [chart, svgFile, pngFile] of [
    [accuracyChart(h), files.accuracySvg, files.accuracyPng],
    [lossChart(h), files.lossSvg, files.lossPng],
  ] as const) {
    const svg = curveChartSvg(chart);
    await writeFileAtomic(svgFile, svg);
    await writeFileAtomic(pngFile, svgToPng(svg));
  }
  return files;
}

/** Round, evenly spaced tick values covering [lo, hi] (1, 2, 2.5, 5 x 10^k steps). */
export function niceTicks(lo: number, hi: number, target: number): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.ceil(lo / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let t = first; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function formatTick(t: number, all: number[]): string {
  const step = all.length > 1 ? Math.abs(all[1] - all[0]) : 1;
  let decimals = 0;
  while (decimals < 6 && Math.abs(step * 10 ** decimals - Math.round(step * 10 ** decimals)) > 1e-6) decimals++;
  return t.toFixed(decimals);
}

function r(v: number): number {
  return Math.round(v * 100) / 100;
}
