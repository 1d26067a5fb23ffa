// The Runs table: every run with its best epoch and metrics, the run to show, and
// the runs to compare on one chart.
import type { RunSummary } from '../protocol.js';
import { getJson } from './api.js';
import { compareChart } from './charts.js';
import { byId, el, fixed, table } from './dom.js';
import { state } from './pageState.js';
import { selectRun } from './resultsPanel.js';

export async function refreshRuns(): Promise<void> {
  state.runs = await getJson<RunSummary[]>('/api/runs');
  byId('runs').replaceChildren(
    table(
      // The figures come right after the name, so that a narrow window shows them before it scrolls.
      ['', 'compare', 'run', 'val_loss', 'val_accuracy', 'best epoch', 'epochs', 'mode', 'base', ''],
      state.runs.map((r) => {
        const pick = el('input', { type: 'radio', name: 'run', value: r.id });
        pick.checked = r.id === state.selected;
        pick.addEventListener('change', () => void selectRun(r.id, false));
        const cmp = el('input', { type: 'checkbox', value: r.id, class: 'compare' });
        cmp.checked = state.compare.has(r.id);
        cmp.addEventListener('change', () => {
          if (cmp.checked) state.compare.add(r.id);
          else state.compare.delete(r.id);
          drawCompare();
        });
        return [
          pick,
          cmp,
          r.id,
          fixed(r.bestValLoss),
          // multi-label: binary accuracy, and the validation mAP beside it
          r.bestValMap !== null ? `${fixed(r.bestValAccuracy)} (mAP ${fixed(r.bestValMap, 3)})` : fixed(r.bestValAccuracy),
          r.bestEpoch ? String(r.bestEpoch) : '-',
          String(r.epochsDone),
          r.mode,
          r.base.length > 24 ? `...${r.base.slice(-21)}` : r.base,
          r.training ? 'training' : r.interrupted ? 'stopped' : '',
        ];
      }),
      { id: 'runs-table' },
    ),
  );
  drawCompare();
}

function drawCompare(): void {
  compareChart(
    byId('compare-chart'),
    state.runs.filter((r) => state.compare.has(r.id)).map((r) => ({ id: r.id, curves: r.history })),
  );
}
