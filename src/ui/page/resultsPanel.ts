// Section 3 of the page, Results: the selected run's evaluation (confusion matrix,
// per-class metrics, top losses), and what selecting a run resets in the other sections.
import type { EvaluationView } from '../protocol.js';
import { getJson, postJson } from './api.js';
import { byId, el, fixed, table } from './dom.js';
import { action, charts, say, state } from './pageState.js';

function showEvaluation(v: EvaluationView | null): void {
  if (!v) {
    byId('confusion').replaceChildren();
    byId('per-class').replaceChildren();
    byId('top-losses').replaceChildren();
    say('results-message', 'Not evaluated yet.');
    return;
  }
  say('results-message', `${v.n} images of ${v.dir}: accuracy ${fixed(v.accuracy)}, loss ${fixed(v.loss)}.`, 'ok');
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
  state.predictor = null;
  byId('export-files').replaceChildren();
  say('export-message', '');
  byId('probabilities').replaceChildren();
  byId('try-result').textContent = '';
  byId<HTMLImageElement>('try-preview').removeAttribute('src');
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
