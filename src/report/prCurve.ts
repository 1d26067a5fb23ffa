import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { averagePrecision, scoreSteps } from '../run/multiLabelMetrics.js';
import { svgToPng } from './plots.js';
import { escapeXml, svgText, textWidth } from './strokeFont.js';

/**
 * One label's precision-recall curve in the style of the run's curves (plots.ts): hand-written
 * SVG, text as strokes, PNG by librsvg. The curve is the staircase whose area is the label's
 * average precision (one step per distinct score, no interpolation), with the label's threshold
 * marked as a dot and the precision of guessing (the label's frequency) as a dashed line.
 */
export interface PrCurveChart {
  name: string;
  /** Per distinct score, highest first: the recall and precision of calling every image at or above it. */
  recall: number[];
  precision: number[];
  averagePrecision: number;
  /** Images with the label, and images in all. */
  support: number;
  n: number;
  /** The label's decision threshold, and recall and precision there. */
  threshold: { value: number; recall: number; precision: number };
}

/** The curve's points and the operating point of one label's probabilities (`truth` >= 0.5 means present). */
export function prCurveChart(name: string, scores: ArrayLike<number>, truth: ArrayLike<number>, threshold: number): PrCurveChart {
  const s = scoreSteps(scores, truth);
  const recall = Array.from(s.tp, (tp) => (s.positives ? tp / s.positives : 0));
  const precision = Array.from(s.tp, (tp, j) => tp / (tp + s.fp[j]));
  let tp = 0;
  let called = 0;
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] < threshold) continue;
    called++;
    if (truth[i] >= 0.5) tp++;
  }
  return {
    name,
    recall,
    precision,
    averagePrecision: averagePrecision(scores, truth),
    support: s.positives,
    n: scores.length,
    threshold: { value: threshold, recall: s.positives ? tp / s.positives : 0, precision: called ? tp / called : 0 },
  };
}

const W = 640;
const H = 480;
const M = { left: 72, right: 24, top: 48, bottom: 60 };
const BLUE = '#1f77b4';
const RED = '#d62728';
const r = (v: number) => Math.round(v * 100) / 100;

export function prCurveSvg(c: PrCurveChart): string {
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  // Precision from 0 to 1.05 so that a curve along 1 stays off the frame.
  const sx = (x: number) => M.left + x * plotW;
  const sy = (y: number) => M.top + (1 - y / 1.05) * plotH;
  const title = `Precision-recall: ${c.name} (AP ${c.averagePrecision.toFixed(3)})`;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeXml(title)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#222" stroke-width="1"/>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const t = i / 5;
    const y = r(sy(t));
    const x = r(sx(t));
    out.push(`<line x1="${M.left - 5}" y1="${y}" x2="${M.left}" y2="${y}" stroke="#222"/>`);
    out.push(svgText(t.toFixed(1), M.left - 9, y + 5, 10, { anchor: 'end' }));
    out.push(`<line x1="${x}" y1="${M.top + plotH}" x2="${x}" y2="${M.top + plotH + 5}" stroke="#222"/>`);
    out.push(svgText(t.toFixed(1), x, M.top + plotH + 20, 10, { anchor: 'middle' }));
  }
  out.push(svgText(title, W / 2, 30, 14, { anchor: 'middle' }));
  out.push(svgText('Recall', M.left + plotW / 2, H - 14, 11, { anchor: 'middle' }));
  out.push(svgText('Precision', 20, M.top + plotH / 2, 11, { anchor: 'middle', rotate: -90 }));

  const legend: Array<{ label: string; mark: string }> = [];
  if (c.support === 0) {
    out.push(svgText(`No image has the label ${c.name}: no curve.`, M.left + plotW / 2, M.top + plotH / 2, 11, { anchor: 'middle' }));
  } else {
    // A guess that gives the label at random has precision = its frequency, at any recall.
    const chance = c.support / c.n;
    out.push(
      `<line class="chance" x1="${sx(0)}" y1="${r(sy(chance))}" x2="${sx(1)}" y2="${r(sy(chance))}" stroke="#888" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    );
    // The staircase: precision P_j over recall (R_{j-1}, R_j]; its area is the average precision.
    const pts: string[] = [];
    let previous = 0;
    c.recall.forEach((rec, j) => {
      if (rec === previous) return;
      pts.push(`${r(sx(previous))},${r(sy(c.precision[j]))}`, `${r(sx(rec))},${r(sy(c.precision[j]))}`);
      previous = rec;
    });
    const area = `${r(sx(0))},${r(sy(0))} ${pts.join(' ')} ${r(sx(previous))},${r(sy(0))}`;
    out.push(`<polygon class="ap-area" points="${area}" fill="${BLUE}" fill-opacity="0.12" stroke="none"/>`);
    out.push(`<polyline class="curve" points="${pts.join(' ')}" fill="none" stroke="${BLUE}" stroke-width="2" stroke-linejoin="round"/>`);
    const t = c.threshold;
    out.push(
      `<circle class="threshold" cx="${r(sx(t.recall))}" cy="${r(sy(t.precision))}" r="5" fill="${RED}" stroke="#ffffff" stroke-width="1"/>`,
    );
    legend.push(
      { label: `Precision-recall (AP ${c.averagePrecision.toFixed(3)})`, mark: 'line' },
      {
        label: `Threshold ${t.value.toPrecision(3)}: precision ${t.precision.toFixed(3)}, recall ${t.recall.toFixed(3)}`,
        mark: 'dot',
      },
      { label: `Chance (${c.support} of ${c.n} images)`, mark: 'dash' },
    );
  }
  if (legend.length > 0) {
    // A precision-recall curve starts high on the left: the bottom left is usually empty, but a poor
    // label's curve can fall into it; then the corner that hides the fewest points of the curve.
    const legendW = 46 + Math.max(...legend.map((l) => textWidth(l.label, 10)));
    const legendH = 10 + legend.length * 19;
    const points = Array.from({ length: 101 }, (_, i) => {
      const rec = i / 100;
      const j = c.recall.findIndex((x) => x >= rec);
      return [sx(rec), sy(j < 0 ? 0 : c.precision[j])];
    });
    const corners = [
      [M.left + 12, M.top + plotH - legendH - 12],
      [M.left + plotW - legendW - 12, M.top + plotH - legendH - 12],
      [M.left + plotW - legendW - 12, M.top + 12],
      [M.left + 12, M.top + 12],
    ];
    const hidden = ([x0, y0]: number[]) =>
      points.filter(([x, y]) => x >= x0 - 6 && x <= x0 + legendW + 6 && y >= y0 - 6 && y <= y0 + legendH + 6).length;
    const [lx, ly] = corners.reduce((best, corner) => (hidden(corner) < hidden(best) ? corner : best));
    out.push(
      `<rect class="legend" x="${lx}" y="${r(ly)}" width="${r(legendW)}" height="${legendH}" rx="3" fill="#ffffff" fill-opacity="0.85" stroke="#ccc"/>`,
    );
    legend.forEach((l, i) => {
      const y = r(ly + 15 + i * 19);
      if (l.mark === 'dot') out.push(`<circle cx="${lx + 20}" cy="${y}" r="5" fill="${RED}"/>`);
      else
        out.push(
          `<line x1="${lx + 8}" y1="${y}" x2="${lx + 32}" y2="${y}" stroke="${l.mark === 'line' ? BLUE : '#888'}" stroke-width="${l.mark === 'line' ? 2 : 1.5}"${l.mark === 'dash' ? ' stroke-dasharray="6 4"' : ''}/>`,
        );
      out.push(svgText(l.label, lx + 40, y + 5, 10));
    });
  }
  out.push('</svg>');
  return out.join('\n');
}

/** A label as a file name: letters, digits, '.', '_' and '-' kept, anything else '_'. */
function fileStem(name: string): string {
  const stem = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return stem || '_';
}

/**
 * Write each label's curve as <dir>/<label>.svg and .png (created when missing; atomically).
 * Labels whose file names would clash get their class index appended. Returns the files, in class order.
 */
export async function writePrCurves(charts: PrCurveChart[], dir: string): Promise<Array<{ svg: string; png: string }>> {
  await fsp.mkdir(dir, { recursive: true });
  const stems = charts.map((c) => fileStem(c.name));
  const clash = (s: string) => stems.filter((x) => x.toLowerCase() === s.toLowerCase()).length > 1;
  const files: Array<{ svg: string; png: string }> = [];
  for (const [i, c] of charts.entries()) {
    const stem = clash(stems[i]) ? `${stems[i]}-${i}` : stems[i];
    const svg = prCurveSvg(c);
    const f = { svg: path.join(dir, `${stem}.svg`), png: path.join(dir, `${stem}.png`) };
    await writeFileAtomic(f.svg, svg);
    await writeFileAtomic(f.png, await svgToPng(svg));
    files.push(f);
  }
  return files;
}
