// Section 4 of the page, Try it: classify a picked, dropped or webcam image in the
// browser with TensorFlow.js, on the selected run's tfjs export; Why? asks the server for
// the picked image's Grad-CAM overlay.
import type { ExportView } from '../protocol.js';
import { postJson } from './api.js';
import { PagePredictor, type Prediction } from './classify.js';
import { ServerPredictor } from './serverPredictor.js';
import { byId, el, table } from './dom.js';
import { clearOverlay, overlayOfImage, wireWhy } from './gradcam.js';
import { action, say, state } from './pageState.js';

const backend = new URLSearchParams(location.search).get('backend') ?? 'cpu';

function predictor(): Promise<PagePredictor | ServerPredictor> {
  const run = state.selected;
  if (!run) throw new Error('Select a trained run first (Runs).');
  if (state.predictor?.run !== run) {
    const ready = (async () => {
      // A kNN run's stored features vote on the server: no tfjs model holds them.
      if (state.runs.find((r) => r.id === run)?.mode === 'knn') return new ServerPredictor(run);
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
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  if (p.labels) {
    // multi-label: every label, its threshold drawn on its bar, those at or above it ticked
    const t = table(
      ['', 'label', 'probability', 'threshold', ''],
      p.probabilities.map((x) => [
        x.given ? '\u2713' : '',
        x.label,
        `${(x.probability * 100).toFixed(2)}%`,
        pct(x.threshold ?? 0.5),
        el(
          'div',
          { class: 'track' },
          el('div', { class: 'bar', style: `width:${pct(x.probability)}` }),
          el('div', { class: 'threshold', style: `left:${pct(x.threshold ?? 0.5)}` }),
        ),
      ]),
      { id: 'probability-table' },
    );
    t.querySelectorAll('tbody tr').forEach((row, i) => row.classList.toggle('given', Boolean(p.probabilities[i].given)));
    byId('probabilities').replaceChildren(t);
  } else {
    byId('probabilities').replaceChildren(
      table(
        ['class', 'probability', ''],
        p.probabilities.map((x) => [
          x.label,
          `${(x.probability * 100).toFixed(2)}%`,
          el('div', { class: 'bar', style: `width:${pct(x.probability)}` }),
        ]),
        { id: 'probability-table' },
      ),
    );
  }
  byId('try-result').textContent = JSON.stringify(p);
  const said = p.labels ? (p.labels.length ? p.labels.join(', ') : 'no label reaches its threshold') : p.label;
  say('try-message', `${name}: ${said}`, 'ok');
}

/** The picked or dropped image the Why? button explains (null for the webcam: it has no overlay). */
let lastImage: File | null = null;

function forgetWhy(image: File | null): void {
  lastImage = image;
  clearOverlay(byId<HTMLImageElement>('try-gradcam'));
  const why = byId<HTMLButtonElement>('try-why');
  why.hidden = true;
  why.textContent = 'Why?';
}

async function tryImage(file: File): Promise<void> {
  forgetWhy(file);
  say('try-message', `Classifying ${file.name} ...`);
  byId<HTMLImageElement>('try-preview').src = URL.createObjectURL(file);
  byId('try-result').textContent = '';
  const p = await (await predictor()).classify(file);
  showPrediction(file.name, p);
  byId('try-why').hidden = false;
}

/** Selecting another run: the overlay shown was the old run's. */
export function resetTry(): void {
  forgetWhy(null);
}

export function wireTry(): void {
  const report = (e: unknown) => say('try-message', e instanceof Error ? e.message : String(e), 'error');
  const input = byId<HTMLInputElement>('try-file');
  input.addEventListener('change', () => {
    if (input.files?.[0]) tryImage(input.files[0]).catch(report);
  });
  wireWhy(byId<HTMLButtonElement>('try-why'), byId<HTMLImageElement>('try-gradcam'), 'try-message', async () => {
    if (!state.selected || !lastImage) throw new Error('Pick or drop an image first.');
    return overlayOfImage(state.selected, lastImage);
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
    forgetWhy(null);
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
    video.hidden = false;
    await video.play();
    const model = await predictor();
    timer = setInterval(() => {
      model.classify(video).then((p) => showPrediction('webcam', p), report);
    }, 1000);
  });
}
