import type { ReliabilityBin } from '../run/temperature.js';
import { escapeXml, svgText, textWidth } from './strokeFont.js';

/**
 * The reliability diagram (Guo et al. 2017, figure 1), drawn like the report's curves
 * (hand-written SVG, stroke-font text): per confidence bin, the accuracy of the images in
 * it as a bar, against the diagonal of perfect calibration; with a temperature, the same
 * model's bins without it as a second series. See docs/calibration.md.
 */
export interface ReliabilityChart {
  /** The model's bins (calibrated, when it has a temperature). */
  bins: ReliabilityBin[];
  ece: number;
  /** The bins and ECE of the same model without its temperature, and T. */
  uncalibrated?: { bins: ReliabilityBin[]; ece: number; temperature: number };
  /** Where the images come from, for the title (e.g. 'test'). */
  split?: string;
}

const W = 640;
const H = 480;
const M = { left: 72, right: 24, top: 48, bottom: 60 };
const BLUE = '#1f77b4';
const ORANGE = '#ff7f0e';

export function reliabilityDiagramSvg(c: ReliabilityChart): string {
  const used = [...c.bins, ...(c.uncalibrated?.bins ?? [])].filter((b) => b.count > 0);
  // Top-class confidence is at least 1/k: a two-class model's bins start near 0.5.
  const xMin = used.length ? Math.min(0.5, Math.floor(Math.min(...used.map((b) => b.lo)) * 10) / 10) : 0;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const sx = (x: number) => M.left + ((x - xMin) / (1 - xMin)) * plotW;
  const sy = (y: number) => M.top + (1 - y) * plotH;
  const title = `Reliability diagram (${c.split ? `${c.split} images, ` : ''}${c.bins.length} bins)`;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeXml(title)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#222" stroke-width="1"/>`,
  ];
  for (let t = 0; t <= 1.0001; t += 0.2) {
    const y = r(sy(t));
    out.push(`<line x1="${M.left - 5}" y1="${y}" x2="${M.left}" y2="${y}" stroke="#222"/>`);
    out.push(svgText(t.toFixed(1), M.left - 9, y + 5, 10, { anchor: 'end' }));
  }
  for (let t = Math.ceil(xMin * 10 - 1e-9) / 10; t <= 1.0001; t += 0.1) {
    const x = r(sx(t));
    out.push(`<line x1="${x}" y1="${M.top + plotH}" x2="${x}" y2="${M.top + plotH + 5}" stroke="#222"/>`);
    out.push(svgText(t.toFixed(1), x, M.top + plotH + 20, 10, { anchor: 'middle' }));
  }
  out.push(svgText(title, W / 2, 30, 14, { anchor: 'middle' }));
  out.push(svgText('Confidence (top-class probability)', M.left + plotW / 2, H - 14, 11, { anchor: 'middle' }));
  out.push(svgText('Accuracy', 20, M.top + plotH / 2, 11, { anchor: 'middle', rotate: -90 }));
  // Perfect calibration: accuracy = confidence.
  out.push(
    `<line class="diagonal" x1="${r(sx(xMin))}" y1="${r(sy(xMin))}" x2="${r(sx(1))}" y2="${r(sy(1))}" stroke="#888" stroke-width="1.5" stroke-dasharray="6 4"/>`,
  );
  for (const b of c.bins) {
    if (b.count === 0) continue;
    const x0 = sx(Math.max(b.lo, xMin)) + 1;
    const width = Math.max(1, sx(b.hi) - sx(Math.max(b.lo, xMin)) - 2);
    const y = sy(b.accuracy);
    out.push(
      `<rect class="bin" x="${r(x0)}" y="${r(y)}" width="${r(width)}" height="${r(sy(0) - y)}" fill="${BLUE}" fill-opacity="0.75"><title>${escapeXml(`(${b.lo.toFixed(3)}, ${b.hi.toFixed(3)}]: ${b.count} images, accuracy ${b.accuracy.toFixed(3)}, mean confidence ${b.confidence.toFixed(3)}`)}</title></rect>`,
    );
    // The count above the bar, or inside a bar that reaches the top.
    const inside = y - 4 < M.top + 12;
    out.push(
      svgText(String(b.count), x0 + width / 2, inside ? y + 14 : y - 4, 8, { anchor: 'middle', color: inside ? '#ffffff' : '#555' }),
    );
  }
  if (c.uncalibrated) {
    // Dots only (a bin of 2 images is no trend), their area by count.
    const used = c.uncalibrated.bins.filter((b) => b.count > 0);
    const most = Math.max(...used.map((b) => b.count));
    for (const b of used) {
      const radius = r(2.5 + 3.5 * Math.sqrt(b.count / most));
      out.push(
        `<circle class="uncalibrated" cx="${r(sx(b.confidence))}" cy="${r(sy(b.accuracy))}" r="${radius}" fill="${ORANGE}" fill-opacity="0.9"><title>${escapeXml(`without T: ${b.count} images, accuracy ${b.accuracy.toFixed(3)}, mean confidence ${b.confidence.toFixed(3)}`)}</title></circle>`,
      );
    }
  }
  // The legend, top left: the diagonal runs from bottom left to top right, the bars stay low on the left.
  const rows: Array<[string, string]> = [
    [
      `rect`,
      c.uncalibrated
        ? `Calibrated (T = ${formatT(c.uncalibrated.temperature)}): ECE ${c.ece.toFixed(4)}`
        : `Accuracy per bin: ECE ${c.ece.toFixed(4)}`,
    ],
    ...(c.uncalibrated ? [['dot', `Without T: ECE ${c.uncalibrated.ece.toFixed(4)}`] as [string, string]] : []),
    ['dash', 'Perfect calibration'],
  ];
  const lw = 44 + Math.max(...rows.map(([, t]) => textWidth(t, 10)));
  const lx = M.left + 12;
  const ly = M.top + 12;
  out.push(
    `<rect class="legend" x="${lx}" y="${ly}" width="${r(lw)}" height="${rows.length * 19 + 10}" rx="3" fill="#ffffff" fill-opacity="0.85" stroke="#ccc"/>`,
  );
  rows.forEach(([kind, text], i) => {
    const y = ly + 15 + i * 19;
    if (kind === 'rect') out.push(`<rect x="${lx + 10}" y="${y - 6}" width="20" height="12" fill="${BLUE}" fill-opacity="0.75"/>`);
    if (kind === 'dot') out.push(`<circle cx="${lx + 20}" cy="${y}" r="4" fill="${ORANGE}"/>`);
    if (kind === 'dash')
      out.push(`<line x1="${lx + 8}" y1="${y}" x2="${lx + 32}" y2="${y}" stroke="#888" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    out.push(svgText(text, lx + 38, y + 5, 10));
  });
  out.push('</svg>');
  return out.join('\n');
}

function formatT(t: number): string {
  return t >= 100 ? t.toFixed(0) : t.toPrecision(3);
}

function r(v: number): number {
  return Math.round(v * 100) / 100;
}
