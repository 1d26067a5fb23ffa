import { Rng } from '../io/rng.js';
import { escapeXml, svgText, textWidth } from '../report/strokeFont.js';
import type { DatasetMap } from './datasetMap.js';

/**
 * The dataset map as a scatter plot, in the style of the run's curves (report/plots.ts):
 * hand-written SVG, text as strokes, matplotlib's colours. Coloured by label (the most
 * outlying images ringed and numbered as the outlier list numbers them) or by split.
 * UMAP's axes carry no unit, so they get no ticks.
 */
export type MapColouring = 'label' | 'split';

const W = 760;
const H = 600;
const M = { left: 40, right: 190, top: 52, bottom: 40 };
/** matplotlib's tab10, the colours of the book's plots. */
const TAB10 = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const SPLIT_COLORS: Record<string, string> = { train: '#1f77b4', validation: '#ff7f0e', test: '#2ca02c' };
/** Legend rows drawn at most; the rest are counted in one line. */
const LEGEND_ROWS = 20;

const r = (v: number) => Math.round(v * 100) / 100;

/** A colour for group k: tab10, then evenly spread hues for more groups. */
function colour(k: number): string {
  return k < TAB10.length ? TAB10[k] : `hsl(${Math.round((k * 137.508) % 360)}, 60%, 45%)`;
}

/** A legend label no wider than the legend: long class names end in an ellipsis. */
function fit(label: string, width: number, size: number): string {
  if (textWidth(label, size) <= width) return label;
  let s = label;
  while (s.length > 1 && textWidth(`${s}...`, size) > width) s = s.slice(0, -1);
  return `${s}...`;
}

export function mapSvg(map: DatasetMap, by: MapColouring, opts: { ringed?: number } = {}): string {
  const groups = by === 'label' ? map.classNames : map.splits;
  const groupOf = (i: number) => groups.indexOf(by === 'label' ? map.points[i].label : map.points[i].split);
  const colourOf = (g: number) => (by === 'split' ? (SPLIT_COLORS[groups[g]] ?? colour(g + 3)) : colour(g));
  const xs = map.points.map((p) => p.x);
  const ys = map.points.map((p) => p.y);
  const [x0, x1] = span(xs);
  const [y0, y1] = span(ys);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  // One scale for both axes (UMAP's distances mean the same along x and y), centred in the plot.
  const scale = Math.min(plotW / (x1 - x0), plotH / (y1 - y0));
  const cx = M.left + (plotW - (x1 - x0) * scale) / 2;
  const cy = M.top + (plotH - (y1 - y0) * scale) / 2;
  const sx = (x: number) => cx + (x - x0) * scale;
  const sy = (y: number) => cy + (y1 - y) * scale;
  const title = `Map of the dataset (UMAP of pooled features), by ${by}`;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeXml(title)}">`,
  );
  out.push(`<title>${escapeXml(title)}</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#222" stroke-width="1"/>`);
  out.push(svgText(title, W / 2, 30, 14, { anchor: 'middle' }));
  out.push(svgText('UMAP 1', M.left + plotW / 2, H - 14, 11, { anchor: 'middle' }));
  out.push(svgText('UMAP 2', 20, M.top + plotH / 2, 11, { anchor: 'middle', rotate: -90 }));

  // A fixed shuffle of the drawing order, so that no group is painted over by the one after it.
  const order = new Rng(1).shuffle(Array.from({ length: map.points.length }, (_, i) => i));
  const radius = map.points.length > 5000 ? 1.6 : map.points.length > 1500 ? 2.4 : 3.2;
  const dots: string[] = [];
  for (const i of order) {
    const g = groupOf(i);
    dots.push(`<circle cx="${r(sx(xs[i]))}" cy="${r(sy(ys[i]))}" r="${radius}" fill="${colourOf(g)}"/>`);
  }
  out.push(`<g class="points" fill-opacity="0.7">${dots.join('')}</g>`);

  const ringed = by === 'label' ? map.outliers.slice(0, opts.ringed ?? 10).filter((i) => map.points[i].outlier > 0) : [];
  if (ringed.length > 0) {
    // Each number goes to the first corner of its ring where it covers no number placed before it.
    const placed: Array<[number, number, number, number]> = [];
    const rings = ringed.map((i, rank) => {
      const x = r(sx(xs[i]));
      const y = r(sy(ys[i]));
      const label = String(rank + 1);
      const w = textWidth(label, 9);
      const gap = radius + 5;
      const corners: Array<[number, number]> = [
        [x + gap, y - gap + 2],
        [x + gap, y + gap + 8],
        [x - gap - w, y - gap + 2],
        [x - gap - w, y + gap + 8],
      ];
      const free = ([lx, ly]: [number, number]) => placed.every(([a, b, c, d]) => lx + w < a || lx > c || ly < b || ly - 10 > d);
      const [lx, ly] = corners.find(free) ?? corners[0];
      placed.push([lx, ly - 10, lx + w, ly]);
      // The dot again on top, so that its colour (its label) shows among the other class's dots.
      const dot = `<circle cx="${x}" cy="${y}" r="${radius + 0.8}" fill="${colourOf(groupOf(i))}"/>`;
      return `${dot}<circle cx="${x}" cy="${y}" r="${radius + 4}" fill="none" stroke="#000" stroke-width="1.5"/>${svgText(label, lx, ly, 9)}`;
    });
    out.push(`<g class="outliers">${rings.join('')}</g>`);
  }

  // The legend, right of the plot: a dot, the group, its count.
  const lx = W - M.right + 14;
  const counts = groups.map((_, g) => map.points.filter((__, i) => groupOf(i) === g).length);
  const rows = groups.slice(0, groups.length > LEGEND_ROWS ? LEGEND_ROWS - 1 : LEGEND_ROWS);
  const legend: string[] = [];
  rows.forEach((name, g) => {
    const y = M.top + 14 + g * 20;
    legend.push(`<circle cx="${lx + 6}" cy="${y}" r="5" fill="${colourOf(g)}"/>`);
    legend.push(svgText(fit(`${name} (${counts[g]})`, M.right - 34, 10), lx + 18, y + 5, 10));
  });
  if (rows.length < groups.length)
    legend.push(svgText(`and ${groups.length - rows.length} more`, lx + 18, M.top + 19 + rows.length * 20, 10, { color: '#555' }));
  if (ringed.length > 0) {
    const y = M.top + 14 + (Math.min(groups.length, LEGEND_ROWS) + 1) * 20;
    legend.push(`<circle cx="${lx + 6}" cy="${y}" r="6" fill="none" stroke="#000" stroke-width="1.5"/>`);
    legend.push(svgText('top outliers', lx + 18, y + 5, 10));
  }
  out.push(`<g class="legend">${legend.join('')}</g>`);
  out.push('</svg>');
  return out.join('\n');
}

/** [lo, hi] of `values` with a 4% margin each side (a unit span around a single value). */
function span(values: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi - lo > 1e-9)) [lo, hi] = [lo - 0.5, hi + 0.5];
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}
