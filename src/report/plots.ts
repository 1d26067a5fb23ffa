import path from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { HistoryData } from '../run/history.js';
import { svgText, escapeXml, textWidth } from './strokeFont.js';

/**
 * The book's two figures (Deep Learning with Python, 8.3): training values as blue
 * dots ("bo"), validation values as a blue line ("b"), epochs 1..N on x, a legend,
 * and optionally a dashed vertical marker where fine-tuning started.
 * Hand-written SVG with text drawn as strokes (see strokeFont.ts), rendered to PNG by librsvg (through sharp).
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
  /**
   * Draw values above a robust upper fence (readableLimit) at the plot's top edge, as red
   * triangles labelled with their value, so that one exploding epoch does not flatten
   * every other point into the bottom row (the loss). Default false.
   */
  clip?: boolean;
}

/**
 * The top of the readable range of `values`, or undefined when nothing needs clipping:
 * the largest value within Tukey's far-out fence, Q3 + 3 x IQR. A loss curve's ordinary
 * spread (a first epoch at three times the last) stays inside it; a loss of 247.5 among
 * values around 1 does not.
 */
export function readableLimit(values: number[]): number | undefined {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length < 4) return undefined;
  const q = (p: number) => {
    const i = p * (v.length - 1);
    const lo = Math.floor(i);
    return v[lo] + (v[Math.ceil(i)] - v[lo]) * (i - lo);
  };
  const fence = q(0.75) + 3 * (q(0.75) - q(0.25));
  const kept = v.filter((x) => x <= fence);
  return kept.length < v.length ? kept[kept.length - 1] : undefined;
}

const W = 640;
const H = 480;
const M = { left: 84, right: 24, top: 48, bottom: 60 };
const BLUE = '#1f77b4';
const RED = '#d62728';
const TICK_SIZE = 10;

export function curveChartSvg(c: CurveChart): string {
  const n = Math.max(c.training.length, c.validation.length);
  const xs = Array.from({ length: n }, (_, i) => i + 1);
  const finite = [...c.training, ...c.validation].filter((v) => Number.isFinite(v));
  const limit = c.clip ? readableLimit(finite) : undefined;
  const clipped = (v: number) => limit !== undefined && v > limit;
  const values = finite.filter((v) => !clipped(v));
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  if (!(hi - lo > 1e-9 * Math.max(1, Math.abs(hi)))) {
    const half = Math.abs(hi) > 1e-9 ? Math.abs(hi) / 2 : 0.5;
    lo -= half;
    hi += half;
  }
  const pad = (hi - lo) * 0.05;
  const yTicks = niceTicks(lo - pad, hi + pad, 6);
  const tickLabels = yTicks.map((t) => formatTick(t, yTicks));
  const yMin = Math.min(lo - pad, yTicks[0]);
  const yMax = Math.max(hi + pad, yTicks[yTicks.length - 1]);
  // The left margin fits the widest tick label and, left of it, the rotated axis label.
  const left = Math.max(M.left, Math.ceil(Math.max(...tickLabels.map((l) => textWidth(l, TICK_SIZE))) + 9 + 30));
  const clippedCount = finite.length - values.length;
  const top = clippedCount > 0 ? M.top + 14 : M.top;
  const xMin = n > 1 ? 1 - (n - 1) * 0.05 : 0;
  const xMax = n > 1 ? n + (n - 1) * 0.05 : 2;
  const plotW = W - left - M.right;
  const plotH = H - top - M.bottom;
  const sx = (x: number) => left + ((x - xMin) / (xMax - xMin)) * plotW;
  /** A value to its pixel row; a clipped one to the plot's top edge. */
  const sy = (y: number) => top + (1 - (Math.min(y, yMax) - yMin) / (yMax - yMin)) * plotH;
  const xTicks = niceTicks(1, Math.max(2, n), 8).filter((t) => Number.isInteger(t) && t >= 1 && t <= Math.max(1, n));

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeXml(c.title)}">`,
  );
  out.push(`<title>${escapeXml(c.title)}</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  // Axes box.
  out.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#222" stroke-width="1"/>`);
  const ticks: string[] = [];
  yTicks.forEach((t, i) => {
    if (t < yMin || t > yMax) return;
    const y = r(sy(t));
    ticks.push(`<line x1="${left - 5}" y1="${y}" x2="${left}" y2="${y}" stroke="#222"/>`);
    ticks.push(svgText(tickLabels[i], left - 9, y + 5, TICK_SIZE, { anchor: 'end' }));
  });
  out.push(`<g class="y-ticks">${ticks.join('')}</g>`);
  for (const t of xTicks) {
    const x = r(sx(t));
    out.push(`<line x1="${x}" y1="${top + plotH}" x2="${x}" y2="${top + plotH + 5}" stroke="#222"/>`);
    out.push(svgText(String(t), x, top + plotH + 20, TICK_SIZE, { anchor: 'middle' }));
  }
  out.push(svgText(c.title, W / 2, 30, 14, { anchor: 'middle' }));
  if (clippedCount > 0) {
    const note = `${clippedCount} value${clippedCount > 1 ? 's' : ''} above ${formatValue(limit as number)} drawn at the top edge`;
    out.push(`<g class="clip-note">${svgText(note, W / 2, 50, 9, { anchor: 'middle', color: RED })}</g>`);
  }
  out.push(svgText('Epochs', left + plotW / 2, H - 14, 11, { anchor: 'middle' }));
  out.push(svgText(c.yLabel, 20, top + plotH / 2, 11, { anchor: 'middle', rotate: -90 }));

  const line = c.validation
    .map((v, i) => (Number.isFinite(v) ? `${r(sx(xs[i]))},${r(sy(v))}` : null))
    .filter((p): p is string => p !== null);
  if (line.length > 0)
    out.push(
      `<polyline class="validation" points="${line.join(' ')}" fill="none" stroke="${BLUE}" stroke-width="2" stroke-linejoin="round"/>`,
    );
  c.training.forEach((v, i) => {
    if (Number.isFinite(v) && !clipped(v))
      out.push(`<circle class="training" cx="${r(sx(xs[i]))}" cy="${r(sy(v))}" r="4" fill="${BLUE}"/>`);
  });
  out.push(...clippedMarks(c, clipped, { left: left, right: left + plotW, top }, (i) => r(sx(xs[i]))));

  // Legend in the corner that hides the fewest points (matplotlib's loc="best", simplified).
  const legendW = 50 + Math.max(textWidth(c.trainingLabel, 10), textWidth(c.validationLabel, 10));
  const legendH = 48;
  const points = [...c.training, ...c.validation]
    .map((v, i) => [sx(xs[i % n]), Number.isFinite(v) ? sy(v) : NaN] as const)
    .filter(([, y]) => Number.isFinite(y));
  const corners = [
    [left + plotW - legendW - 12, top + 12],
    [left + plotW - legendW - 12, top + plotH - legendH - 12],
    [left + 12, top + 12],
    [left + 12, top + plotH - legendH - 12],
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
    const x = r(Math.min(left + plotW, Math.max(left, sx(c.markerEpoch - 0.5))));
    out.push(
      `<line class="marker" x1="${x}" y1="${top}" x2="${x}" y2="${top + plotH}" stroke="#888" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    );
    // The label goes right of the marker, or left of it when it would cross the plot's right edge: never clipped.
    const label = c.markerLabel ?? 'Fine-tuning';
    const width = textWidth(label, 9);
    const right = x + 6 + width <= left + plotW - 4;
    const lx2 = right ? x + 6 : Math.max(left + 4 + width, x - 6);
    out.push(
      `<g class="marker-label">${svgText(label, lx2, ly > top + plotH / 2 ? top + 18 : top + plotH - 10, 9, { color: '#555', anchor: right ? 'start' : 'end' })}</g>`,
    );
  }

  out.push('</svg>');
  return out.join('\n');
}

/**
 * The clipped values: a triangle on the top edge at their epoch (filled: training, open:
 * validation), the value below it, right of it (left near the right edge); labels that
 * would overlap go a row lower, three rows at most, and a label with no room left is
 * not drawn (its triangle is).
 */
function clippedMarks(
  c: CurveChart,
  clipped: (v: number) => boolean,
  plot: { left: number; right: number; top: number },
  xAt: (i: number) => number,
): string[] {
  const marks = (
    [
      [c.training, 'training'],
      [c.validation, 'validation'],
    ] as const
  ).flatMap(([series, kind]) =>
    series.flatMap((v, i) => (Number.isFinite(v) && clipped(v) ? [{ kind, x: xAt(i), label: formatValue(v) }] : [])),
  );
  marks.sort((p, q) => p.x - q.x || (p.kind === 'training' ? -1 : 1));
  const rowEnds = [-Infinity, -Infinity, -Infinity];
  const { top } = plot;
  return marks.map(({ kind, x, label }) => {
    const width = textWidth(label, 8);
    const right = x + 7 + width <= plot.right - 2;
    const x0 = right ? x + 7 : x - 7 - width;
    const row = rowEnds.findIndex((end) => x0 >= end + 4);
    const triangle = `<path d="M${x - 5} ${top + 9}L${x} ${top + 1}L${x + 5} ${top + 9}Z" fill="${kind === 'training' ? RED : '#ffffff'}" stroke="${RED}" stroke-width="1.5"/>`;
    if (row < 0) return `<g class="clipped ${kind}">${triangle}</g>`;
    rowEnds[row] = x0 + width;
    const text = svgText(label, x0, top + 19 + row * 11, 8, { color: RED });
    return `<g class="clipped ${kind}">${triangle}${text}</g>`;
  });
}

export function accuracyChart(h: HistoryData): CurveChart {
  // A history with mAP is a multi-label run's, whose accuracy is Keras's binary accuracy (every image x label at 0.5).
  const binary = hasMap(h) ? 'binary accuracy' : 'accuracy';
  return {
    title: `Training and validation ${binary}`,
    yLabel: hasMap(h) ? 'Binary accuracy' : 'Accuracy',
    training: h.history.accuracy ?? h.history.acc ?? [],
    validation: h.history.val_accuracy ?? h.history.val_acc ?? [],
    trainingLabel: `Training ${binary}`,
    validationLabel: `Validation ${binary}`,
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
    clip: true,
    ...marker(h),
  };
}

/** Whether the history records mean average precision (a multi-label run's `map` and `val_map`). */
export function hasMap(h: HistoryData): boolean {
  return (h.history.map?.length ?? 0) > 0 || (h.history.val_map?.length ?? 0) > 0;
}

/** A multi-label run's mean average precision per epoch, drawn beside its loss. */
export function mapChart(h: HistoryData): CurveChart {
  return {
    title: 'Training and validation mAP',
    yLabel: 'Mean average precision',
    training: h.history.map ?? [],
    validation: h.history.val_map ?? [],
    trainingLabel: 'Training mAP',
    validationLabel: 'Validation mAP',
    ...marker(h),
  };
}

function marker(h: HistoryData): Pick<CurveChart, 'markerEpoch' | 'markerLabel'> {
  if (h.fineTuneStartEpoch === undefined) return {};
  // fineTuneStartEpoch is an index into the history (0-based); the x axis counts from 1.
  return { markerEpoch: h.fineTuneStartEpoch + 1, markerLabel: 'Fine-tuning starts' };
}

/** The chart as a PNG `scale` times its SVG size, on white: sharp (tlkit's image library) renders SVG with librsvg. */
export async function svgToPng(svg: string, scale = 1.5): Promise<Uint8Array> {
  return sharp(Buffer.from(svg), { density: 72 * scale })
    .flatten({ background: '#ffffff' })
    .png()
    .toBuffer();
}

export interface PlotFiles {
  accuracySvg: string;
  accuracyPng: string;
  lossSvg: string;
  lossPng: string;
  /** map.svg/.png, when the history records mAP (multi-label runs). */
  mapSvg?: string;
  mapPng?: string;
}

/** Write accuracy.svg/.png and loss.svg/.png into `dir` (atomically), and map.svg/.png when the history has mAP. */
export async function writeHistoryPlots(h: HistoryData, dir: string): Promise<PlotFiles> {
  const files: PlotFiles = {
    accuracySvg: path.join(dir, 'accuracy.svg'),
    accuracyPng: path.join(dir, 'accuracy.png'),
    lossSvg: path.join(dir, 'loss.svg'),
    lossPng: path.join(dir, 'loss.png'),
    ...(hasMap(h) ? { mapSvg: path.join(dir, 'map.svg'), mapPng: path.join(dir, 'map.png') } : {}),
  };
  const charts: Array<readonly [CurveChart, string, string]> = [
    [accuracyChart(h), files.accuracySvg, files.accuracyPng],
    [lossChart(h), files.lossSvg, files.lossPng],
  ];
  if (files.mapSvg && files.mapPng) charts.push([mapChart(h), files.mapSvg, files.mapPng]);
  for (const [chart, svgFile, pngFile] of charts) {
    const svg = curveChartSvg(chart);
    await writeFileAtomic(svgFile, svg);
    await writeFileAtomic(pngFile, await svgToPng(svg));
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

/** A tick label: as many decimals as the step needs (0.25, 0.5), in exponent form below 1e-4 steps (2.5e-6). */
export function formatTick(t: number, all: number[]): string {
  const step = all.length > 1 ? Math.abs(all[1] - all[0]) : Math.abs(t) || 1;
  if (t === 0) return '0';
  if (step < 1e-4 || Math.abs(t) >= 1e6) {
    const digits = Math.max(0, Math.min(3, Math.ceil(Math.log10(Math.abs(t) / step) - 1e-9)));
    return trimExponent(t.toExponential(digits));
  }
  let decimals = 0;
  while (decimals < 4 && Math.abs(step * 10 ** decimals - Math.round(step * 10 ** decimals)) > 1e-6) decimals++;
  return t.toFixed(decimals);
}

/** A clipped value's label: three significant digits, whole numbers from 100 (43.0, 248, 1000, 1.2e5). */
function formatValue(v: number): string {
  if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return trimExponent(v.toExponential(1));
  return Math.abs(v) >= 100 ? String(Math.round(v)) : v.toPrecision(3);
}

function trimExponent(s: string): string {
  return s.replace(/\.?0+e/, 'e').replace('e+', 'e');
}

function r(v: number): number {
  return Math.round(v * 100) / 100;
}
