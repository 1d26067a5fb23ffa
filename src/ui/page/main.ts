// The page of `tlkit ui`: data, training with live curves, results, trying the model,
// exporting. All the work is the server's (the same code as the CLI), except the
// prediction in "Try it", which runs here with TensorFlow.js on the run's tfjs export.
import type { DataState, TrainFormSpec } from '../protocol.js';
import { getJson } from './api.js';
import { showData, wireData } from './dataPanel.js';
import { el } from './dom.js';
import { wireMap } from './mapPanel.js';
import { wireResults } from './resultsPanel.js';
import { wireReview } from './reviewPanel.js';
import { refreshRuns } from './runsPanel.js';
import { fillForm, wireTrain } from './trainPanel.js';
import { wireTry } from './tryPanel.js';

async function main(): Promise<void> {
  wireData();
  wireTrain();
  wireResults();
  wireTry();
  wireReview();
  wireMap();
  fillForm(await getJson<TrainFormSpec>('/api/options'));
  showData(await getJson<DataState>('/api/data'));
  await refreshRuns();
  document.body.dataset.ready = 'true';
}

main().catch((e: unknown) => {
  document.body.prepend(el('p', { class: 'error' }, `The page could not start: ${e instanceof Error ? e.message : String(e)}`));
});
