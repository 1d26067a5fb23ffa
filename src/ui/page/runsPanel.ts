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
      ['', 'compare', 'run', 'mode', 'base', 'epochs', 'best epoch', 'val_loss', 'val_accuracy', ''],
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
          r.mode,
          r.base.length > 24 ? `...${r.base.slice(-21)}` : r.base,
          String(r.epochsDone),
          r.bestEpoch ? String(r.bestEpoch) : '-',
          fixed(r.bestValLoss),
          fixed(r.bestValAccuracy),
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
