// Section 3 of the page, Results: the selected run's evaluation (confusion matrix,
// per-class metrics, top losses; a multi-label run's mAP, per-class AP and thresholds, top
// losses per label), and what selecting a run resets in the other sections.
import type { EvaluationView } from '../protocol.js';
import { getJson, postJson } from './api.js';
import { byId, el, fixed, table } from './dom.js';
import { overlayOfDataFile, wireWhy } from './gradcam.js';
import { action, charts, say, state } from './pageState.js';
import { resetTry } from './tryPanel.js';

/** A top loss's Why? button and the place its Grad-CAM overlay appears (fetched on the first click). */
function why(file: string): HTMLElement[] {
  const button = el(
    'button',
    { class: 'secondary why', type: 'button', title: 'Where the model found the evidence for its answer' },
    'Why?',
  );
  const img = el('img', { class: 'gradcam', alt: '' });
  img.hidden = true;
  const run = state.selected;
  wireWhy(button, img, 'results-message', async () => {
    if (!run) throw new Error('Select a run first.');
    return overlayOfDataFile(run, file);
  });
  return [button, img];
}

/** A multi-label run: mAP and the set figures, the per-class table with AP and thresholds, the top losses per label. */
function showMultiLabel(v: EvaluationView, m: NonNullable<EvaluationView['multiLabel']>): void {
  say(
    'results-message',
    `${v.n} images of ${v.dir}${v.evaluatedOn ? ` (${v.evaluatedOn})` : ''}: mAP ${fixed(m.meanAveragePrecision)}, exact match ${fixed(m.exactMatch)}, loss ${fixed(v.loss)}.`,
    'ok',
  );
  byId('confusion').replaceChildren(
    el('h3', {}, 'Multi-label (a label is given at or above its threshold)'),
    table(
      ['mAP', 'micro F1', 'macro F1', 'exact match', 'Hamming loss'],
      [[m.meanAveragePrecision, m.microF1, m.macroF1, m.exactMatch, m.hammingLoss].map((x) => fixed(x, 3))],
      { id: 'multi-label-summary' },
    ),
  );
  byId('per-class').replaceChildren(
    el('h3', {}, 'Per class'),
    table(
      ['class', 'AP', 'precision', 'recall', 'F1', 'threshold', 'images'],
      m.perClass.map((c) => [
        c.name,
        fixed(c.averagePrecision, 3),
        fixed(c.precision, 3),
        fixed(c.recall, 3),
        fixed(c.f1, 3),
        fixed(c.threshold, 3),
        String(c.support),
      ]),
      { id: 'per-class-table' },
    ),
  );
  const none = v.topLosses.every((items) => items.length === 0);
  byId('top-losses').replaceChildren(
    el('h3', {}, 'Top losses per label'),
    el(
      'p',
      { class: 'message', id: 'top-losses-note' },
      none
        ? `None: every image is right about every label with P(right answer) >= ${fixed(v.lossShownBelow, 2)}.`
        : `Per label, the images wrong about it, and the right ones with P(right answer) below ${fixed(v.lossShownBelow, 2)}, highest loss first.`,
    ),
    ...(none ? [] : v.topLosses).map((items, i) =>
      el(
        'div',
        { class: 'losses' },
        el('strong', {}, `${v.classes[i]}: `),
        v.topLossesNotes?.[i] ? el('span', { class: 'losses-note' }, v.topLossesNotes[i]) : null,
        ...items.map((t) =>
          el(
            'span',
            { class: 'loss', title: t.file },
            t.url ? el('img', { src: t.url, alt: t.file }) : null,
            el('span', {}, `${t.present ? 'has' : 'lacks'} ${t.label}`),
            el('span', {}, `P ${fixed(t.probability, 3)} (${t.given ? 'given' : 'not given'})`),
            ...why(t.file),
          ),
        ),
      ),
    ),
  );
}

function showEvaluation(v: EvaluationView | null): void {
  if (!v) {
    byId('confusion').replaceChildren();
    byId('per-class').replaceChildren();
    byId('top-losses').replaceChildren();
    say('results-message', 'Not evaluated yet.');
    return;
  }
  if (v.multiLabel) return showMultiLabel(v, v.multiLabel);
  say(
    'results-message',
    `${v.n} images of ${v.dir}${v.evaluatedOn ? ` (${v.evaluatedOn})` : ''}: accuracy ${fixed(v.accuracy)}, loss ${fixed(v.loss)}.`,
    'ok',
  );
  byId('confusion').replaceChildren(
    el('h3', {}, 'Confusion matrix (rows: true class, columns: predicted)'),
    table(
      ['', ...v.classes],
      v.confusion.map((row, i) => [v.classes[i], ...row.map(String)]),
      { class: 'cm', id: 'confusion-matrix' },
    ),
  );
  byId('per-class').replaceChildren(
    el('h3', {}, 'Per class'),
    table(
      ['class', 'precision', 'recall', 'F1', 'images'],
      v.classes.map((c, i) => [c, fixed(v.precision[i], 3), fixed(v.recall[i], 3), fixed(v.f1[i], 3), String(v.support[i])]),
    ),
  );
  // Only misclassified images and unsure right ones are losses; say so when there are none.
  const below = fixed(v.lossShownBelow, 2);
  const none = v.topLosses.every((items) => items.length === 0);
  byId('top-losses').replaceChildren(
    el('h3', {}, 'Top losses per class'),
    el(
      'p',
      { class: 'message', id: 'top-losses-note' },
      none
        ? `None: every image is classified correctly with P(true) >= ${below}.`
        : `The misclassified images, and the right ones with P(true) below ${below}, highest loss first.`,
    ),
    ...(none ? [] : v.topLosses).map((items, i) =>
      el(
        'div',
        { class: 'losses' },
        el('strong', {}, `${v.classes[i]}: `),
        // Fewer than the others' limit: how many of the class are losses at all (no confident right answer fills the list).
        v.topLossesNotes?.[i] ? el('span', { class: 'losses-note' }, v.topLossesNotes[i]) : null,
        ...items.map((t) =>
          el(
            'span',
            { class: 'loss', title: t.file },
            t.url ? el('img', { src: t.url, alt: t.file }) : null,
            el('span', {}, `predicted ${t.predicted}`),
            el('span', {}, `P(true) ${fixed(t.probability, 3)}`),
            ...why(t.file),
          ),
        ),
      ),
    ),
  );
}

export async function selectRun(id: string, evaluate: boolean): Promise<void> {
  state.selected = id;
  for (const r of Array.from(document.querySelectorAll<HTMLInputElement>('#runs input[type=radio]'))) r.checked = r.value === id;
  byId('results-run').textContent = id;
  byId<HTMLButtonElement>('evaluate').disabled = false;
  const run = state.runs.find((r) => r.id === id);
  if (run) charts.show(run.history);
  // Teachable Machine's format has no multi-label form (the export would refuse it)
  const tm = document.querySelector<HTMLButtonElement>('#export-buttons [data-format=tm]');
  if (tm) {
    tm.disabled = run?.labelMode === 'multi-label';
    tm.title = tm.disabled ? "Teachable Machine's format has no multi-label form: export tfjs, onnx or keras" : '';
  }
  state.predictor = null;
  byId('export-files').replaceChildren();
  say('export-message', '');
  byId('probabilities').replaceChildren();
  byId('try-result').textContent = '';
  byId<HTMLImageElement>('try-preview').removeAttribute('src');
  resetTry();
  say('try-message', '');
  if (evaluate) {
    say('results-message', `Evaluating ${id} ...`);
    showEvaluation(await postJson<EvaluationView>(`/api/runs/${encodeURIComponent(id)}/evaluate`, {}));
  } else {
    showEvaluation(await getJson<EvaluationView | null>(`/api/runs/${encodeURIComponent(id)}/evaluation`));
  }
}

/** The Evaluate button: evaluates the selected run again (on its test split, else its validation images). */
export function wireResults(): void {
  action(byId<HTMLButtonElement>('evaluate'), 'results-message', async () => {
    if (state.selected) await selectRun(state.selected, true);
  });
}
