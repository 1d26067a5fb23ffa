// Section 3 of the page, Results: the selected run's evaluation (confusion matrix,
// per-class metrics, top losses), and what selecting a run resets in the other sections.
import type { EvaluationView } from '../protocol.js';
import { getJson, postJson } from './api.js';
import { byId, el, fixed, table } from './dom.js';
import { charts, say, state } from './pageState.js';

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
  byId('top-losses').replaceChildren(
    el('h3', {}, 'Top losses per class'),
    ...v.topLosses.map((items, i) =>
      el(
        'div',
        {},
        el('strong', {}, `${v.classes[i]}: `),
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
