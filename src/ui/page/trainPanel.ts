// Section 2 of the page, Train: the options form, start and stop, live progress and
// curves from the server's training events.
import type { TrainEvent, TrainFormSpec } from '../protocol.js';
import { postJson } from './api.js';
import { CurveCharts } from './charts.js';
import { byId, el, fixed } from './dom.js';
import { exportRun } from './exportPanel.js';
import { wireLrFind } from './lrFindPanel.js';
import { action, charts, say, setCharts, state } from './pageState.js';
import { progressOf } from './progress.js';
import { selectRun } from './resultsPanel.js';
import { refreshRuns } from './runsPanel.js';
import { buildTrainForm, trainRequest } from './trainForm.js';

let formSpec: TrainFormSpec;

export function fillForm(spec: TrainFormSpec): void {
  formSpec = spec;
  buildTrainForm(byId<HTMLFormElement>('train-form'), spec);
  byId('export-buttons').replaceChildren(
    ...spec.exportFormats.map((f) => el('button', { class: 'secondary export', 'data-format': f }, `Export ${f}`)),
  );
  for (const b of Array.from(byId('export-buttons').querySelectorAll<HTMLButtonElement>('button')))
    action(b, 'export-message', () => exportRun(b.dataset.format as string));
}

function training(on: boolean): void {
  byId<HTMLButtonElement>('train-start').disabled = on;
  byId<HTMLButtonElement>('train-stop').disabled = !on;
}

function onEvent(e: TrainEvent): void {
  if (e.type === 'start') {
    state.live = { epoch: [], history: {} };
    charts.show(state.live);
    training(true);
    say('train-message', `Training ${e.run} ...`);
    byId<HTMLProgressElement>('progress').value = 0;
  } else if (e.type === 'batch') {
    const p = progressOf(e);
    byId<HTMLProgressElement>('progress').value = p.fraction;
    byId('progress-text').textContent = p.text;
  } else if (e.type === 'epoch') {
    state.live.epoch.push(e.epoch - 1);
    for (const [k, v] of Object.entries(e.metrics)) (state.live.history[k] ??= []).push(v);
    charts.show(state.live);
    say(
      'train-message',
      `Epoch ${e.epoch}/${e.epochs}: val_loss ${fixed(e.metrics.val_loss)}, val_accuracy ${fixed(e.metrics.val_accuracy)}${e.metrics.val_map !== undefined ? `, val_mAP ${fixed(e.metrics.val_map)}` : ''}${e.checkpointSaved ? ' (checkpoint saved)' : ''}`,
    );
  } else if (e.type === 'end' || e.type === 'error') {
    training(false);
    say('train-message', e.message, e.type === 'error' ? 'error' : e.interrupted ? '' : 'ok');
    if (e.type === 'end') {
      if (!e.interrupted) byId<HTMLProgressElement>('progress').value = 1;
      byId('progress-text').textContent += e.interrupted ? ' - stopped' : ' - done';
      void refreshRuns().then(() => (e.bestEpoch > 0 ? selectRun(e.run, true) : undefined));
    }
  }
}

export function wireTrain(): void {
  setCharts(new CurveCharts(byId('chart-loss'), byId('chart-accuracy')));
  action(byId<HTMLButtonElement>('train-start'), 'train-message', async () => {
    await postJson<{ run: string }>('/api/train', trainRequest(byId<HTMLFormElement>('train-form'), formSpec));
  });
  wireLrFind(() => trainRequest(byId<HTMLFormElement>('train-form'), formSpec));
  action(byId<HTMLButtonElement>('train-stop'), 'train-message', async () => {
    // Said before asking: the run's end event may arrive before this request's answer, and must not be overwritten.
    say('train-message', 'Stopping after the current batch; the best checkpoint is kept ...');
    await postJson('/api/train/stop', {});
  });
  const events = new EventSource('/api/events');
  for (const type of ['start', 'batch', 'epoch', 'end', 'error']) {
    events.addEventListener(type, (m) => onEvent(JSON.parse((m as MessageEvent<string>).data) as TrainEvent));
  }
}
