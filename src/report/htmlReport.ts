import path from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { RunEvaluation, FileResult } from '../run/evaluation.js';
import type { HistoryData } from '../run/history.js';
import { knnConfigRows } from './knnFacts.js';
import type { RunMeta } from '../run/meta.js';
import { accuracyChart, curveChartSvg, hasMap, lossChart, mapChart } from './plots.js';
import { MULTI_LABEL_CSS, multiLabelEvaluationHtml, multiLabelLossesHtml, PR_CURVES_DIR, prCurveCharts } from './multiLabelReport.js';
import { writePrCurves } from './prCurve.js';
import { reliabilityDiagramSvg } from './reliability.js';
import { calibrationFact, describeHeadSpec, extractionFact, precisionFact, type DataFacts, type ModelFacts } from './runFacts.js';
import { expectedCalibrationError, reliabilityBins, rescaleScores } from '../run/temperature.js';
import { escapeXml } from './strokeFont.js';
import { thumbnail } from './thumbnail.js';
import { fewerLossesNote, LOSS_SHOWN_BELOW, topLossesPerClass } from './topLosses.js';

export interface ReportInput {
  runDir: string;
  meta: RunMeta;
  history: HistoryData | null;
  evaluation: (Omit<RunEvaluation, 'files'> & { files: FileResult[] }) | null;
  /** Why there is no evaluation, when there is none. */
  evaluationNote?: string;
  /** How many confidently wrong images to show. Default 12. */
  topWrong?: number;
  /** How many highest-loss images to show per class. Default 6. */
  topLossesPerClass?: number;
  /** Size, parameter count and head of the saved model (from model/model.json). */
  model?: ModelFacts;
  /** Per-class image counts of the training data, or why there are none. */
  data?: { facts?: DataFacts; note?: string };
  /** tlkit's version, printed in the report. */
  version?: string;
}

function describeAugmentation(meta: RunMeta): string {
  const a = meta.augmentation;
  if (!a || (meta.mode === 'features' && !meta.options?.augment))
    return meta.mode === 'features' ? 'none (features mode: the base runs once on the images as they are)' : 'none';
  const layers = [
    a.flip !== 'none' ? `RandomFlip("${a.flip}")` : '',
    a.rotation ? `RandomRotation(${a.rotation})` : '',
    a.zoom ? `RandomZoom(${a.zoom})` : '',
  ].filter(Boolean);
  return layers.length ? layers.join(' -> ') : 'none (every transform turned off)';
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

export interface WrongPrediction extends Omit<FileResult, 'predicted'> {
  predicted: number;
  confidence: number;
}

/** Misclassified images, most confident first. */
export function mostConfidentlyWrong(files: FileResult[], top: number): WrongPrediction[] {
  const wrong: WrongPrediction[] = [];
  for (const f of files) {
    let predicted = 0;
    for (let i = 1; i < f.scores.length; i++) if (f.scores[i] > f.scores[predicted]) predicted = i;
    if (predicted !== f.label) wrong.push({ ...f, predicted, confidence: f.scores[predicted] });
  }
  return wrong.sort((a, b) => b.confidence - a.confidence).slice(0, top);
}

const h = escapeXml;

function fmt(v: unknown, digits = 4): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(digits);
  if (v === undefined || v === null) return '—';
  if (Array.isArray(v)) return v.join(' x ');
  return String(v);
}

function table(rows: Array<[string, unknown]>): string {
  return `<table class="kv">${rows.map(([k, v]) => `<tr><th>${h(k)}</th><td>${h(fmt(v))}</td></tr>`).join('')}</table>`;
}

function confusionTable(e: NonNullable<ReportInput['evaluation']>): string {
  const max = Math.max(1, ...e.confusion.flat());
  const head = `<tr><th>true \\ predicted</th>${e.classes.map((c) => `<th>${h(c)}</th>`).join('')}<th>recall</th></tr>`;
  const body = e.confusion
    .map((row, i) => {
      const cells = row
        .map((v, j) => {
          const a = (0.08 + 0.72 * (v / max)).toFixed(2);
          const color = i === j ? `rgba(31,119,180,${a})` : `rgba(214,39,40,${v === 0 ? 0 : a})`;
          return `<td class="cm" style="background:${color}">${v}</td>`;
        })
        .join('');
      return `<tr><th>${h(e.classes[i])}</th>${cells}<td>${e.recall[i].toFixed(4)}</td></tr>`;
    })
    .join('');
  const precision = `<tr><th>precision</th>${e.precision.map((p) => `<td>${p.toFixed(4)}</td>`).join('')}<td></td></tr>`;
  return `<table class="confusion" id="confusion">${head}${body}${precision}</table>`;
}

/** The recorded ONNX base: file, hash, input and where the features come from (undefined for other bases). */
export function describeOnnxBase(meta: RunMeta): string | undefined {
  const b = meta.onnxBase;
  if (!b) return undefined;
  const batch = b.batch === null ? '' : `, batch ${b.batch}`;
  return `${b.file}; sha256 ${b.sha256}; input ${b.inputName} (${b.layout} ${meta.imageSize.join('x')}${batch}); preprocessing ${meta.preprocessing}; features from ${b.outputName}${b.upTo ? ' (--up-to)' : ''}`;
}

/** The evaluation's expected calibration error, and without the temperature when the model has one. */
function eceText(e: NonNullable<ReportInput['evaluation']>): string {
  const scores = e.files.map((f) => f.scores);
  const labels = e.files.map((f) => f.label);
  const ece = e.ece ?? expectedCalibrationError(scores, labels);
  if (e.temperature === undefined) return ece.toFixed(4);
  const before = e.eceUncalibrated ?? expectedCalibrationError(rescaleScores(scores, e.temperature), labels);
  return `${ece.toFixed(4)} (without the temperature T = ${e.temperature.toPrecision(4)}: ${before.toFixed(4)})`;
}

/** The reliability diagram of the evaluated images (with the uncalibrated model's bins when it has a temperature). */
function reliabilityFigure(e: NonNullable<ReportInput['evaluation']>): string {
  if (e.files.length === 0) return '';
  const scores = e.files.map((f) => f.scores);
  const labels = e.files.map((f) => f.label);
  const raw = e.temperature !== undefined ? rescaleScores(scores, e.temperature) : undefined;
  const svg = reliabilityDiagramSvg({
    bins: reliabilityBins(scores, labels),
    ece: e.ece ?? expectedCalibrationError(scores, labels),
    split: path.basename(e.dir),
    ...(raw && e.temperature !== undefined
      ? { uncalibrated: { bins: reliabilityBins(raw, labels), ece: expectedCalibrationError(raw, labels), temperature: e.temperature } }
      : {}),
  });
  return `<div class="charts"><figure id="reliability-chart">${svg}</figure></div>`;
}

export async function renderReport(input: ReportInput): Promise<string> {
  const { meta, history, evaluation } = input;
  const multiLabel = meta.labelMode === 'multi-label';
  const multiEvaluation = evaluation?.multiLabel ? { ...evaluation, multiLabel: evaluation.multiLabel } : undefined;
  const o = meta.options ?? {};
  const best = meta.bestEpoch;
  const idx = history ? history.epoch.indexOf(best) : -1;
  const config: Array<[string, unknown]> = [
    ['Run dir', path.resolve(input.runDir)],
    ['Mode', meta.mode],
    ['Base', `${meta.baseSource} (${meta.baseFamily})`],
    ['ONNX base', describeOnnxBase(meta)],
    ['Preprocessing', meta.preprocessing],
    ['Image size', meta.imageSize],
    ['Precision', precisionFact(input.runDir, meta)],
    ['Classes', meta.classes.join(', ')],
    ...(multiLabel
      ? ([
          [
            'Labels',
            `multi-label: one sigmoid per label (${meta.classes.length}), binary cross-entropy; an image may get none, one or several`,
          ],
        ] as Array<[string, unknown]>)
      : []),
    ['Data', meta.data ?? o.data],
    ['Epochs', o.epochs],
    ['Batch size', o.batchSize],
    ['Optimizer', `${o.optimizer ?? 'rmsprop'}, learning rate ${o.learningRate ?? (meta.mode === 'finetune' ? 1e-5 : 1e-3)}`],
    // The head as the saved model has it (a fine-tuning run's comes from the run it started from).
    [
      'Head',
      input.model?.head ??
        describeHeadSpec(
          meta.head ?? {
            units: Number(o.headUnits ?? 256),
            dropout: Number(o.dropout ?? 0.5),
            pooling: o.pooling === 'avg' ? 'avg' : 'flatten',
          },
          meta,
        ),
    ],
    ['Augmentation', describeAugmentation(meta)],
    ['Calibration', calibrationFact(meta)],
    [
      'Model size',
      input.model
        ? `${megabytes(input.model.bytes)} (${input.model.params.toLocaleString('en-US')} parameters; model/ folder, float32${meta.onnxBase ? ': the head alone, the ONNX base not counted' : ''})`
        : undefined,
    ],
    ['Seed', o.seed],
    [
      'Best epoch',
      best >= 0
        ? `${best + 1} (val_loss ${fmt(meta.bestValLoss)}${idx >= 0 && history?.history.val_accuracy ? `, val_accuracy ${fmt(history.history.val_accuracy[idx])}` : ''}${idx >= 0 && history?.history.val_map ? `, val_map ${fmt(history.history.val_map[idx])}` : ''})`
        : 'none',
    ],
    ['Finished', meta.finished ? 'yes' : meta.interrupted ? 'no (interrupted; resume with --resume)' : 'no'],
    ['tlkit version', input.version],
  ];
  if (meta.knn) config.splice(0, config.length, ...knnConfigRows(meta, config));
  const t = meta.timings ?? {};
  const timings: Array<[string, unknown]> = [
    ['Feature extraction', extractionFact(t, 'extract')],
    ['Frozen prefix features (fine-tuning)', extractionFact(t, 'prefixFeatures')],
    ['Training', t.trainSeconds !== undefined ? `${fmt(t.trainSeconds, 1)} s` : undefined],
    ['Temperature fit', t.calibrationSeconds !== undefined ? `${fmt(t.calibrationSeconds, 1)} s` : undefined],
    [
      'Evaluation',
      evaluation ? `${fmt(evaluation.seconds, 1)} s (${evaluation.n} images, ${fmt(evaluation.imagesPerSecond, 1)} images/s)` : undefined,
    ],
  ];

  // A multi-label run's history has mAP: drawn first, beside the loss, its binary accuracy after them.
  const mapFigure = history && hasMap(history) ? `<figure id="map-chart">${curveChartSvg(mapChart(history))}</figure>` : '';
  const curves = history?.epoch.length
    ? mapFigure
      ? `<div class="charts">${mapFigure}<figure id="loss-chart">${curveChartSvg(lossChart(history))}</figure><figure id="accuracy-chart">${curveChartSvg(accuracyChart(history))}</figure></div>`
      : `<div class="charts"><figure id="accuracy-chart">${curveChartSvg(accuracyChart(history))}</figure><figure id="loss-chart">${curveChartSvg(lossChart(history))}</figure></div>`
    : '<p>No finished epoch yet: no curves.</p>';

  let dataHtml = `<p>${h(input.data?.note ?? 'No data folder recorded for this run.')}</p>`;
  const facts = input.data?.facts;
  if (facts) {
    const splits = (['train', 'validation', 'test'] as const).filter((sp) => facts.counts[sp]);
    const beforeSplit = facts.layout === 'classes' || (facts.layout === 'table' && !facts.counts.validation);
    const head = `<tr><th>${facts.layout === 'table' ? 'label' : 'class'}</th>${splits.map((sp) => `<th>${sp}${beforeSplit && sp === 'train' ? ' (all, before --validation-split)' : ''}</th>`).join('')}</tr>`;
    const rows = meta.classes
      .map((c) => `<tr><th>${h(c)}</th>${splits.map((sp) => `<td>${facts.counts[sp]?.[c] ?? 0}</td>`).join('')}</tr>`)
      .join('');
    const images = facts.images;
    const totals = images
      ? `<tr><th>images</th>${splits.map((sp) => `<td>${sp === 'test' ? 0 : (images[sp] ?? 0)}</td>`).join('')}</tr>`
      : `<tr><th>total</th>${splits.map((sp) => `<td>${Object.values(facts.counts[sp] ?? {}).reduce((a, b) => a + b, 0)}</td>`).join('')}</tr>`;
    const intro = facts.table
      ? `Images per label in ${h(facts.dir)}, from the table ${h(facts.table)} (an image counts under each of its labels):`
      : `Images per class in ${h(facts.dir)}:`;
    dataHtml = `<p>${intro}</p><table class="counts" id="counts">${head}${rows}${totals}</table>`;
  }

  let evalHtml = `<p>${h(input.evaluationNote ?? 'Not evaluated. Run `tlkit evaluate --model RUN --data DIR` first.')}</p>`;
  let wrongHtml = '';
  let lossesHtml = '';
  if (multiEvaluation) {
    evalHtml = multiLabelEvaluationHtml(multiEvaluation, meta);
    lossesHtml = await multiLabelLossesHtml(multiEvaluation, input.topLossesPerClass ?? 6);
  } else if (evaluation) {
    const f1 =
      evaluation.f1 ??
      evaluation.precision.map((p, i) => (p + evaluation.recall[i] ? (2 * p * evaluation.recall[i]) / (p + evaluation.recall[i]) : 0));
    const support = evaluation.support ?? evaluation.confusion.map((row) => row.reduce((a, b) => a + b, 0));
    const perClass = `<table class="per-class" id="per-class"><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>${evaluation.classes
      .map(
        (c, i) =>
          `<tr><th>${h(c)}</th><td>${evaluation.precision[i].toFixed(4)}</td><td>${evaluation.recall[i].toFixed(4)}</td><td>${f1[i].toFixed(4)}</td><td>${support[i]}</td></tr>`,
      )
      .join('')}</table>`;
    evalHtml = `${table([
      ['Evaluated on', evaluation.dir],
      ['Images', evaluation.n],
      ['Accuracy', evaluation.accuracy.toFixed(4)],
      ['Loss', evaluation.loss.toFixed(4)],
      ['ECE (15 bins)', eceText(evaluation)],
    ])}${confusionTable(evaluation)}${perClass}${reliabilityFigure(evaluation)}`;
    const top = input.topLossesPerClass ?? 6;
    const losses = topLossesPerClass(evaluation.files, evaluation.classes, top);
    const groups = await Promise.all(
      losses.map(async (group, c) => {
        const cards = await Promise.all(
          group.items.map(async (w) => {
            const src = await thumbnail(w.file);
            const img = src ? `<img src="${src}" alt="${h(path.basename(w.file))}">` : `<div class="missing">image unavailable</div>`;
            return `<figure class="loss">${img}<figcaption>loss ${w.loss.toFixed(3)}<br>predicted <b>${h(evaluation.classes[w.predicted])}</b> ${(w.scores[w.predicted] * 100).toFixed(1)}%<br><span class="file">${h(path.basename(w.file))}</span></figcaption></figure>`;
          }),
        );
        const note = fewerLossesNote(group, evaluation.classes[c], top);
        return `<h3>${h(evaluation.classes[c])}</h3>${note ? `<p class="losses-note">${h(note)}</p>` : ''}${cards.length ? `<div class="gallery">${cards.join('')}</div>` : ''}`;
      }),
    );
    lossesHtml = `<div id="top-losses">${groups.join('\n')}</div>`;
    const wrong = mostConfidentlyWrong(evaluation.files, input.topWrong ?? 12);
    const cards = await Promise.all(
      wrong.map(async (w) => {
        const src = await thumbnail(w.file);
        const img = src ? `<img src="${src}" alt="${h(path.basename(w.file))}">` : `<div class="missing">image unavailable</div>`;
        return `<figure class="wrong">${img}<figcaption><b>${h(evaluation.classes[w.predicted])}</b> ${(w.confidence * 100).toFixed(1)}%<br>true: ${h(evaluation.classes[w.label])}<br><span class="file">${h(path.basename(w.file))}</span></figcaption></figure>`;
      }),
    );
    wrongHtml = wrong.length ? `<div class="gallery" id="wrong">${cards.join('')}</div>` : '<p>No misclassified images.</p>';
  }

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tlkit report: ${h(path.basename(path.resolve(input.runDir)))}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; padding-bottom: .3rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: .3rem .6rem; text-align: left; }
table.kv th { background: #f6f6f6; font-weight: 600; }
table.confusion td.cm { text-align: center; min-width: 4rem; font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.charts figure { margin: 0; flex: 1 1 480px; }
.charts svg { width: 100%; height: auto; border: 1px solid #eee; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 1rem; }
figure.wrong, figure.loss { margin: 0; border: 1px solid #eee; padding: .4rem; text-align: center; }
figure.wrong img, figure.loss img { max-width: 160px; max-height: 160px; display: block; margin: 0 auto .3rem; }
h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
.file { color: #777; font-size: .8rem; word-break: break-all; }
${multiLabel || multiEvaluation ? `${MULTI_LABEL_CSS}\n` : ''}</style>
</head>
<body>
<h1>Transfer learning report</h1>
<p>${multiLabel ? `Labels ${h(meta.classes.join(', '))} (multi-label)` : h(meta.classes.join(' vs '))}: ${h(meta.mode)} mode on ${h(meta.baseSource)}.</p>
<h2>Configuration</h2>
${table(config)}
<h2>Data</h2>
${dataHtml}
<h2>Training curves</h2>
${curves}
<h2>Evaluation</h2>
${evalHtml}
${multiEvaluation ? `<h2>Top losses per label</h2>\n${lossesHtml}\n` : ''}${evaluation && !multiEvaluation ? `<h2>Most confidently wrong images</h2>\n${wrongHtml}` : ''}
${evaluation && !multiEvaluation ? `<h2>Top losses per class</h2>\n<p>The misclassified images, and the right ones with P(true) below ${LOSS_SHOWN_BELOW}, highest loss first.</p>\n${lossesHtml}` : ''}
<h2>Timings</h2>
${table(timings.filter(([, v]) => v !== undefined))}
<p class="file">Generated by tlkit${input.version ? ` ${h(input.version)}` : ''} on ${h(new Date().toISOString())}.</p>
</body>
</html>
`;
}

export async function writeReport(file: string, input: ReportInput): Promise<string> {
  const e = input.evaluation;
  // A multi-label evaluation's curves also go beside the report as files, one PNG and SVG per label.
  if (e?.multiLabel) await writePrCurves(prCurveCharts({ ...e, multiLabel: e.multiLabel }), path.join(path.dirname(file), PR_CURVES_DIR));
  await writeFileAtomic(file, await renderReport(input));
  return file;
}
