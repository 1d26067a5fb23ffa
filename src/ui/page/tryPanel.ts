// Section 4 of the page, Try it: classify a picked, dropped or webcam image in the
// browser with TensorFlow.js, on the selected run's tfjs export.
import type { ExportView } from '../protocol.js';
import { postJson } from './api.js';
import { PagePredictor, type Prediction } from './classify.js';
import { byId, el, table } from './dom.js';
import { action, say, state } from './pageState.js';

const backend = new URLSearchParams(location.search).get('backend') ?? 'cpu';

function predictor(): Promise<PagePredictor> {
  const run = state.selected;
  if (!run) throw new Error('Select a trained run first (Runs).');
  if (state.predictor?.run !== run) {
    const ready = (async () => {
      const exported = await postJson<ExportView>(`/api/runs/${encodeURIComponent(run)}/export`, { format: 'tfjs' });
      const modelJson = exported.files.find((f) => f.rel === 'model.json');
      if (!modelJson) throw new Error('The tfjs export has no model.json.');
      return PagePredictor.load(modelJson.url.replace(/\/model\.json$/, ''), backend);
    })();
    ready.catch(() => (state.predictor = null));
    state.predictor = { run, ready };
  }
  return state.predictor.ready;
}

function showPrediction(name: string, p: Prediction): void {
  byId('probabilities').replaceChildren(
    table(
      ['class', 'probability', ''],
      p.probabilities.map((x) => [
        x.label,
        `${(x.probability * 100).toFixed(2)}%`,
        el('div', { class: 'bar', style: `width:${(x.probability * 100).toFixed(1)}%` }),
      ]),
      { id: 'probability-table' },
    ),
  );
  byId('try-result').textContent = JSON.stringify(p);
  say('try-message', `${name}: ${p.label}`, 'ok');
}

async function tryImage(file: File): Promise<void> {
  say('try-message', `Classifying ${file.name} ...`);
  byId<HTMLImageElement>('try-preview').src = URL.createObjectURL(file);
  byId('try-result').textContent = '';
  const p = await (await predictor()).classify(file);
  showPrediction(file.name, p);
}

export function wireTry(): void {
  const report = (e: unknown) => say('try-message', e instanceof Error ? e.message : String(e), 'error');
  const input = byId<HTMLInputElement>('try-file');
  input.addEventListener('change', () => {
    if (input.files?.[0]) tryImage(input.files[0]).catch(report);
  });
  const drop = byId('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) tryImage(f).catch(report);
  });
  // Webcam: classify the current frame, once a second, while the camera is on.
  let timer: ReturnType<typeof setInterval> | undefined;
  action(byId<HTMLButtonElement>('webcam'), 'try-message', async () => {
    const video = byId<HTMLVideoElement>('webcam-video');
    if (timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
      for (const t of (video.srcObject as MediaStream | null)?.getTracks() ?? []) t.stop();
      video.hidden = true;
      return;
    }
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
    video.hidden = false;
    await video.play();
    const model = await predictor();
    timer = setInterval(() => {
      model.classify(video).then((p) => showPrediction('webcam', p), report);
    }, 1000);
  });
}
