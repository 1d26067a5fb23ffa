import path from 'node:path';
import type { FileResult, RunEvaluation } from '../run/evaluation.js';
import type { RunMeta } from '../run/meta.js';
import type { MultiLabelMetrics } from '../run/multiLabelMetrics.js';
import { fewerLabelLossesNote, topLossesPerLabel } from './multiLabelLosses.js';
import { prCurveChart, prCurveSvg, type PrCurveChart } from './prCurve.js';
import { escapeXml as h } from './strokeFont.js';
import { thumbnail } from './thumbnail.js';
import { LOSS_SHOWN_BELOW } from './topLosses.js';

// The report's evaluation of a multi-label run (meta.labelMode 'multi-label'): the figures of
// multiLabelMetrics, a precision-recall curve per label and the top losses per label. What has
// no meaning with several labels per image (a confusion matrix, the reliability diagram of the
// top class, "confidently wrong" by the top class) is not shown.

/** The evaluation fields the multi-label sections read. */
export type MultiLabelEvaluation = Pick<RunEvaluation, 'dir' | 'n' | 'loss' | 'classes'> & {
  files: FileResult[];
  multiLabel: MultiLabelMetrics;
};

/** The folder, beside report.html, that holds each label's curve as PNG and SVG. */
export const PR_CURVES_DIR = 'pr-curves';

/** The report's extra CSS for these sections. */
export const MULTI_LABEL_CSS = `.pr-curves { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 1rem; }
.pr-curves figure { margin: 0; }
.pr-curves svg { width: 100%; height: auto; border: 1px solid #eee; }
.charts figure#accuracy-chart { flex: 0 1 calc(50% - .5rem); }`;

/** Whether every evaluated file records its true labels (evaluations of multi-label runs do). */
function filesHaveLabels(e: MultiLabelEvaluation): boolean {
  return e.files.length > 0 && e.files.every((f) => Array.isArray(f.labels));
}

/** Each label's precision-recall curve at the evaluation's thresholds; none when the files lack their true labels. */
export function prCurveCharts(e: MultiLabelEvaluation): PrCurveChart[] {
  if (!filesHaveLabels(e)) return [];
  return e.classes.map((name, c) =>
    prCurveChart(
      name,
      e.files.map((f) => f.scores[c]),
      e.files.map((f) => ((f.labels as string[]).includes(name) ? 1 : 0)),
      e.multiLabel.thresholds[c],
    ),
  );
}

/** Where the thresholds come from, in words. */
export function thresholdsFact(meta: Pick<RunMeta, 'thresholdSource'>, m: MultiLabelMetrics): string {
  const list = m.thresholds.map((t, c) => `${m.perClass[c]?.name ?? c} ${t.toPrecision(3)}`).join(', ');
  const source =
    meta.thresholdSource === 'given'
      ? 'given with --threshold'
      : meta.thresholdSource === 'validation-f1'
        ? "each label's F1-best on the validation images"
        : 'from meta.json';
  return `${list} (${source}; a label is given when its probability is at or above its threshold)`;
}

function kv(rows: Array<[string, string]>, id: string): string {
  return `<table class="kv" id="${id}">${rows.map(([k, v]) => `<tr><th>${h(k)}</th><td>${h(v)}</td></tr>`).join('')}</table>`;
}

/** The evaluation section: the overall figures, the per-label table and the precision-recall curves. */
export function multiLabelEvaluationHtml(e: MultiLabelEvaluation, meta: Pick<RunMeta, 'thresholdSource'>): string {
  const m = e.multiLabel;
  const figures = kv(
    [
      ['Evaluated on', e.dir],
      ['Images', String(e.n)],
      ['mAP', m.meanAveragePrecision.toFixed(4)],
      ['Micro-F1', m.microF1.toFixed(4)],
      ['Macro-F1', m.macroF1.toFixed(4)],
      ['Exact match', `${m.exactMatch.toFixed(4)} (images whose predicted label set is exactly the true one)`],
      ['Hamming loss', `${m.hammingLoss.toFixed(4)} (wrong decisions among images x labels)`],
      ['Loss', `${e.loss.toFixed(4)} (binary cross-entropy, the mean over images x labels)`],
      ['Thresholds', thresholdsFact(meta, m)],
    ],
    'multi-label-figures',
  );
  const head = '<tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>AP</th><th>support</th><th>threshold</th></tr>';
  const rows = m.perClass
    .map(
      (c) =>
        `<tr><th>${h(c.name)}</th><td>${c.precision.toFixed(4)}</td><td>${c.recall.toFixed(4)}</td><td>${c.f1.toFixed(4)}</td><td>${c.support > 0 ? c.averagePrecision.toFixed(4) : '—'}</td><td>${c.support}</td><td>${c.threshold.toPrecision(3)}</td></tr>`,
    )
    .join('');
  const perClass = `<table class="per-class" id="per-class">${head}${rows}</table>`;
  const charts = prCurveCharts(e);
  const curves = charts.length
    ? `<h3>Precision-recall curves</h3><p>Each label's curve over the evaluated images (its area is the label's AP), its threshold as a red dot; PNG and SVG files of them are in ${PR_CURVES_DIR}/ beside this report.</p><div class="pr-curves" id="pr-curves">${charts.map((c, i) => `<figure id="pr-curve-${i}">${prCurveSvg(c)}</figure>`).join('')}</div>`
    : '<p>No precision-recall curves: the evaluated files do not record their true labels (run `tlkit evaluate` again).</p>';
  return `${figures}${perClass}${curves}`;
}

/** The top-losses section: per label, the images with the largest binary cross-entropy for it. */
export async function multiLabelLossesHtml(e: MultiLabelEvaluation, top: number): Promise<string> {
  if (!filesHaveLabels(e)) return '<p>No top losses: the evaluated files do not record their true labels.</p>';
  const groups = topLossesPerLabel(e.files, e.classes, e.multiLabel.thresholds, top);
  const html = await Promise.all(
    groups.map(async (group, c) => {
      const name = e.classes[c];
      const cards = await Promise.all(
        group.items.map(async (w) => {
          const src = await thumbnail(w.file);
          const img = src ? `<img src="${src}" alt="${h(path.basename(w.file))}">` : `<div class="missing">image unavailable</div>`;
          const verdict =
            w.present !== w.given ? (w.present ? 'missed' : 'given wrongly') : `right (${w.given ? 'given' : 'not given'}), unsure`;
          const p = `P(${h(name)}) ${(w.probability * 100).toFixed(1)}%`;
          return `<figure class="loss">${img}<figcaption>loss ${w.loss.toFixed(3)}: <b>${verdict}</b><br>${p}, threshold ${e.multiLabel.thresholds[c].toPrecision(3)}<br>true: ${h(w.labels.join(', ') || 'none')}<br>predicted: ${h(w.predicted.join(', ') || 'none')}<br><span class="file">${h(path.basename(w.file))}</span></figcaption></figure>`;
        }),
      );
      const note = fewerLabelLossesNote(group, name, top);
      return `<h3>${h(name)}</h3>${note ? `<p class="losses-note">${h(note)}</p>` : ''}${cards.length ? `<div class="gallery">${cards.join('')}</div>` : ''}`;
    }),
  );
  return `<p>Per label, the images whose binary cross-entropy for that label is largest: the label missed or given wrongly at its threshold, or decided right with P(right answer) below ${LOSS_SHOWN_BELOW}, highest loss first.</p>\n<div id="top-losses">${html.join('\n')}</div>`;
}

/** The figures as text, for `tlkit report`'s output: the overall line, then one row per label. */
export function multiLabelSummaryText(e: Pick<MultiLabelEvaluation, 'dir' | 'n' | 'multiLabel'>): string {
  const m = e.multiLabel;
  const header = ['label', 'precision', 'recall', 'F1', 'AP', 'support', 'threshold'];
  const rows = m.perClass.map((c) => [
    c.name,
    c.precision.toFixed(4),
    c.recall.toFixed(4),
    c.f1.toFixed(4),
    c.support > 0 ? c.averagePrecision.toFixed(4) : '-',
    String(c.support),
    c.threshold.toPrecision(3),
  ]);
  const widths = header.map((col, j) => Math.max(col.length, ...rows.map((r) => r[j].length)));
  const line = (cells: string[]) =>
    `  ${cells
      .map((cell, j) => (j === 0 ? cell.padEnd(widths[j]) : cell.padStart(widths[j])))
      .join('  ')
      .trimEnd()}`;
  return [
    `Multi-label evaluation on ${e.dir} (${e.n} images):`,
    `  mAP ${m.meanAveragePrecision.toFixed(4)}, micro-F1 ${m.microF1.toFixed(4)}, macro-F1 ${m.macroF1.toFixed(4)}, exact match ${m.exactMatch.toFixed(4)}, Hamming loss ${m.hammingLoss.toFixed(4)}`,
    line(header),
    ...rows.map(line),
  ].join('\n');
}
