import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { formatTick, niceTicks, svgToPng } from './plots.js';
import { escapeXml, svgText, textWidth } from './strokeFont.js';

/**
 * The learning-rate finder's figure, as fastai's plot_lr_find draws it: the smoothed loss
 * against the learning rate on a log axis, a dot at each suggestion with a legend. In the
 * style of the run's curves (plots.ts): hand-written SVG, text as strokes, PNG by librsvg.
 */
export interface LrFindChart {
  rates: number[];
  /** The smoothed loss at each rate. */
  losses: number[];
  /** The suggestions, each a dot on the curve. */
  marks: Array<{ label: string; rate: number; loss: number }>;
}

const W = 640;
const H = 480;
const M = { left: 84, right: 24, top: 48, bottom: 60 };
const BLUE = '#1f77b4';
/** matplotlib's next colours, which fastai gives its suggestions. */
const MARK_COLORS = ['#ff7f0e', '#2ca02c', '#d62728', '#9467bd'];
const TICK_SIZE = 10;

const r = (v: number) => Math.round(v * 100) / 100;

/** A power of ten as a tick label: 1e-7 ... 1e-1, 1, 10. */
function decadeLabel(k: number): string {
  return k === 0 ? '1' : k === 1 ? '10' : `1e${k}`;
}

export function lrFindSvg(c: LrFindChart): string {
  const points = c.rates.map((rate, i) => [rate, c.losses[i]] as const).filter(([x, y]) => x > 0 && Number.isFinite(y));
  const xs = points.map(([x]) => Math.log10(x));
  const ys = points.map(([, y]) => y);
  let lo = xs.length ? Math.min(...xs) : -7;
  let hi = xs.length ? Math.max(...xs) : 1;
  if (!(hi > lo)) [lo, hi] = [lo - 0.5, hi + 0.5];
  let yLo = ys.length ? Math.min(...ys) : 0;
  // As far up as the first loss or 4x the lowest (where the sweep stops): a loss that blew up
  // without the stop (stopDiv off) leaves the top edge instead of flattening the curve.
  let yHi = ys.length ? Math.min(Math.max(...ys), Math.max(ys[0], 4 * yLo)) : 1;
  if (!(yHi - yLo > 1e-9 * Math.max(1, Math.abs(yHi)))) [yLo, yHi] = [yLo - 0.5, yHi + 0.5];
  const pad = (yHi - yLo) * 0.05;
  const yTicks = niceTicks(yLo - pad, yHi + pad, 6);
  const tickLabels = yTicks.map((t) => formatTick(t, yTicks));
  const yMin = Math.min(yLo - pad, yTicks[0]);
  const yMax = Math.max(yHi + pad, yTicks[yTicks.length - 1]);
  const left = Math.max(M.left, Math.ceil(Math.max(...tickLabels.map((l) => textWidth(l, TICK_SIZE))) + 9 + 30));
  const xPad = (hi - lo) * 0.03;
  const xMin = lo - xPad;
  const xMax = hi + xPad;
  const plotW = W - left - M.right;
  const plotH = H - M.top - M.bottom;
  const sx = (logRate: number) => left + ((logRate - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number) => M.top + (1 - (Math.min(y, yMax) - yMin) / (yMax - yMin)) * plotH;
  const title = 'Learning rate finder';

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeXml(title)}">`,
  );
  out.push(`<title>${escapeXml(title)}</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<rect x="${left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#222" stroke-width="1"/>`);
  const ticks: string[] = [];
  yTicks.forEach((t, i) => {
    if (t < yMin || t > yMax) return;
    const y = r(sy(t));
    ticks.push(`<line x1="${left - 5}" y1="${y}" x2="${left}" y2="${y}" stroke="#222"/>`);
    ticks.push(svgText(tickLabels[i], left - 9, y + 5, TICK_SIZE, { anchor: 'end' }));
  });
  out.push(`<g class="y-ticks">${ticks.join('')}</g>`);
  // A tick at every power of ten in range, labelled every one, every other one when there are many.
  const decades: number[] = [];
  for (let k = Math.ceil(xMin); k <= Math.floor(xMax); k++) decades.push(k);
  const every = decades.length > 9 ? 2 : 1;
  const xTicks: string[] = [];
  for (const k of decades) {
    const x = r(sx(k));
    xTicks.push(`<line x1="${x}" y1="${M.top + plotH}" x2="${x}" y2="${M.top + plotH + 5}" stroke="#222"/>`);
    if (k % every === 0) xTicks.push(svgText(decadeLabel(k), x, M.top + plotH + 20, TICK_SIZE, { anchor: 'middle' }));
  }
  out.push(`<g class="x-ticks">${xTicks.join('')}</g>`);
  out.push(svgText(title, W / 2, 30, 14, { anchor: 'middle' }));
  out.push(svgText('Learning rate (log scale)', left + plotW / 2, H - 14, 11, { anchor: 'middle' }));
  out.push(svgText('Loss (smoothed)', 20, M.top + plotH / 2, 11, { anchor: 'middle', rotate: -90 }));

  const line = points.map(([x, y]) => `${r(sx(Math.log10(x)))},${r(sy(y))}`);
  if (line.length > 0)
    out.push(`<polyline class="loss" points="${line.join(' ')}" fill="none" stroke="${BLUE}" stroke-width="2" stroke-linejoin="round"/>`);
  const marks = c.marks.filter((m) => m.rate > 0 && Number.isFinite(m.loss));
  marks.forEach((m, i) => {
    const color = MARK_COLORS[i % MARK_COLORS.length];
    out.push(
      `<circle class="suggestion" data-label="${escapeXml(m.label)}" cx="${r(sx(Math.log10(m.rate)))}" cy="${r(sy(m.loss))}" r="5" fill="${color}" stroke="#ffffff" stroke-width="1"/>`,
    );
  });
  if (marks.length > 0) {
    // The curve falls then rises: the top right corner is the emptiest.
    const labelW = Math.max(...marks.map((m) => textWidth(m.label, 10)));
    const legendW = 34 + labelW;
    const legendH = 10 + marks.length * 19;
    const lx = left + plotW - legendW - 12;
    const ly = M.top + 12;
    out.push(
      `<rect class="legend" x="${r(lx)}" y="${ly}" width="${r(legendW)}" height="${legendH}" rx="3" fill="#ffffff" fill-opacity="0.85" stroke="#ccc"/>`,
    );
    marks.forEach((m, i) => {
      const y = ly + 15 + i * 19;
      out.push(`<circle cx="${r(lx + 14)}" cy="${y}" r="5" fill="${MARK_COLORS[i % MARK_COLORS.length]}"/>`);
      out.push(svgText(m.label, lx + 26, y + 5, 10));
    });
  }
  out.push('</svg>');
  return out.join('\n');
}

export interface LrFindPlotFiles {
  png: string;
  svg: string;
}

/** Write lr-find.svg and lr-find.png into `dir` (created when missing), each atomically. */
export async function writeLrFindPlot(c: LrFindChart, dir: string): Promise<LrFindPlotFiles> {
  await fsp.mkdir(dir, { recursive: true });
  const files = { png: path.join(dir, 'lr-find.png'), svg: path.join(dir, 'lr-find.svg') };
  const svg = lrFindSvg(c);
  await writeFileAtomic(files.svg, svg);
  await writeFileAtomic(files.png, await svgToPng(svg));
  return files;
}
