// The page of `tlkit ui`: data, training with live curves, results, trying the model,
// exporting. All the work is the server's (the same code as the CLI), except the
// prediction in "Try it", which runs here with TensorFlow.js on the run's tfjs export.
import type { DataState, EvaluationView, ExportView, ImagePage, RunSummary, TrainEvent, TrainFormSpec } from '../protocol.js';
import { getJson, postForm, postJson } from './api.js';
import { CurveCharts, compareChart, type Curves } from './charts.js';
import { PagePredictor, type Prediction } from './classify.js';
import { byId, el, fixed, table } from './dom.js';
import { progressOf } from './progress.js';
import { buildTrainForm, trainRequest } from './trainForm.js';

const PAGE_SIZE = 24;
const backend = new URLSearchParams(location.search).get('backend') ?? 'cpu';

const state = {
  data: null as DataState | null,
  thumbOffset: 0,
  runs: [] as RunSummary[],
  selected: null as string | null,
  compare: new Set<string>(),
  live: { epoch: [], history: {} } as Curves,
  predictor: null as { run: string; ready: Promise<PagePredictor> } | null,
};

function say(id: string, text: string, kind: 'error' | 'ok' | '' = ''): void {
  const m = byId(id);
  m.textContent = text;
  m.className = `message ${kind}`;
}

/** Run an action from a button: its error goes to the section's message line. */
function action(button: HTMLButtonElement, messageId: string, f: () => Promise<void>): void {
  button.addEventListener('click', (e) => {
    e.preventDefault();
    button.disabled = true;
    f()
      .catch((err: unknown) => say(messageId, err instanceof Error ? err.message : String(err), 'error'))
      .finally(() => {
        button.disabled = false;
      });
  });
}

// ---- 1. Data ----

function showData(d: DataState): void {
  state.data = d;
  byId('data-recent').replaceChildren(...d.recent.map((r) => el('option', { value: r })));
  if (d.dir) byId<HTMLInputElement>('data-path').value = d.dir;
  const s = d.summary;
  if (!s) {
    byId('data-counts').replaceChildren();
    return;
  }
  const splits = s.splits.map((x) => x.split);
  byId('data-counts').replaceChildren(
    table(
      ['class', ...splits],
      s.classNames
        .map((c) => [c, ...s.splits.map((x) => String(x.counts[c] ?? 0))])
        .concat([['total', ...s.splits.map((x) => String(x.total))]]),
      { id: 'counts' },
    ),
  );
  const counted = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  // check-data's problems, one line a kind (a dataset of small images has one 'tiny' per file), each file linked.
  const kinds = [...new Set(s.problems.map((p) => p.kind))];
  byId('problems').replaceChildren(
    ...kinds.map((kind) => {
      const of = s.problems.filter((p) => p.kind === kind);
      return el(
        'li',
        { 'data-kind': kind, 'data-severity': of[0].severity },
        el(
          'details',
          {},
          el(
            'summary',
            {},
            `${of[0].severity} ${kind}: ${of.length} problem${of.length > 1 ? 's' : ''} (${of[0].message}${of.length > 1 ? ', ...' : ''})`,
          ),
          el(
            'ul',
            {},
            ...of
              .slice(0, 100)
              .map((p) =>
                el(
                  'li',
                  {},
                  `${p.message} `,
                  ...p.files.slice(0, 5).flatMap((f) => [el('a', { href: f.url, target: '_blank', rel: 'noopener' }, f.rel), ' ']),
                ),
              ),
          ),
        ),
      );
    }),
  );
  say(
    'data-message',
    d.error ??
      `${s.classNames.length} classes, ${s.splits.reduce((a, x) => a + x.total, 0)} images${s.ok ? ', no problems found' : `, ${counted(s.problems.filter((p) => p.severity === 'error').length, 'error')} and ${counted(s.problems.filter((p) => p.severity === 'warning').length, 'warning')} listed below`}.`,
    d.error ? 'error' : s.ok ? 'ok' : '',
  );
  const splitSelect = byId<HTMLSelectElement>('thumb-split');
  splitSelect.replaceChildren(...splits.map((x) => el('option', { value: x === '.' ? '' : x }, x === '.' ? '(all)' : x)));
  byId<HTMLSelectElement>('thumb-class').replaceChildren(...s.classNames.map((c) => el('option', { value: c }, c)));
  state.thumbOffset = 0;
  void showThumbs();
}

async function showThumbs(): Promise<void> {
  const split = byId<HTMLSelectElement>('thumb-split').value;
  const cls = byId<HTMLSelectElement>('thumb-class').value;
  if (!state.data?.summary || !cls) return;
  const page = await getJson<ImagePage>(
    `/api/data/images?split=${encodeURIComponent(split)}&class=${encodeURIComponent(cls)}&offset=${state.thumbOffset}&limit=${PAGE_SIZE}`,
  );
  byId('thumbs').replaceChildren(...page.files.map((f) => el('img', { src: f.url, alt: f.rel, title: f.rel })));
  byId('thumb-page').textContent = page.total ? `${page.offset + 1}-${page.offset + page.files.length} of ${page.total}` : 'no images';
}

function wireData(): void {
  action(byId<HTMLButtonElement>('data-open'), 'data-message', async () => {
    say('data-message', 'Checking the images ...');
    showData(
      await postJson<DataState>('/api/data', {
        path: byId<HTMLInputElement>('data-path').value,
        create: byId<HTMLInputElement>('data-create').checked,
      }),
    );
  });
  for (const id of ['thumb-split', 'thumb-class']) {
    byId(id).addEventListener('change', () => {
      state.thumbOffset = 0;
      void showThumbs();
    });
  }
  byId('thumb-prev').addEventListener('click', () => {
    state.thumbOffset = Math.max(0, state.thumbOffset - PAGE_SIZE);
    void showThumbs();
  });
  byId('thumb-next').addEventListener('click', () => {
    state.thumbOffset += PAGE_SIZE;
    void showThumbs();
  });
  action(byId<HTMLButtonElement>('upload-go'), 'data-message', async () => {
    const form = new FormData();
    form.set('class', byId<HTMLInputElement>('upload-class').value);
    form.set('split', byId<HTMLSelectElement>('upload-split').value);
    for (const f of Array.from(byId<HTMLInputElement>('upload-files').files ?? [])) form.append('files', f);
    const r = await postForm<{ saved: string[]; data: DataState }>('/api/upload', form);
    showData(r.data);
    say('data-message', `Uploaded ${r.saved.length} image(s).`, 'ok');
  });
}

// ---- 2. Train ----

let charts: CurveCharts;

let formSpec: TrainFormSpec;

function fillForm(spec: TrainFormSpec): void {
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
      `Epoch ${e.epoch}/${e.epochs}: val_loss ${fixed(e.metrics.val_loss)}, val_accuracy ${fixed(e.metrics.val_accuracy)}${e.checkpointSaved ? ' (checkpoint saved)' : ''}`,
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

function wireTrain(): void {
  charts = new CurveCharts(byId('chart-loss'), byId('chart-accuracy'));
  action(byId<HTMLButtonElement>('train-start'), 'train-message', async () => {
    await postJson<{ run: string }>('/api/train', trainRequest(byId<HTMLFormElement>('train-form'), formSpec));
  });
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

// ---- Runs ----

async function refreshRuns(): Promise<void> {
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

// ---- 3. Results ----

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

async function selectRun(id: string, evaluate: boolean): Promise<void> {
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

// ---- 4. Try it ----

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

function wireTry(): void {
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

// ---- 5. Export ----

async function exportRun(format: string): Promise<void> {
  const run = state.selected;
  if (!run) throw new Error('Select a trained run first (Runs).');
  say('export-message', `Exporting ${run} as ${format} ...`);
  const r = await postJson<ExportView>(`/api/runs/${encodeURIComponent(run)}/export`, { format });
  byId('export-files').replaceChildren(...r.files.map((f) => el('li', {}, el('a', { href: f.url, download: f.rel }, f.rel))));
  say('export-message', `Exported ${run} as ${format} to ${r.out}`, 'ok');
}

async function main(): Promise<void> {
  wireData();
  wireTrain();
  wireTry();
  fillForm(await getJson<TrainFormSpec>('/api/options'));
  showData(await getJson<DataState>('/api/data'));
  await refreshRuns();
  document.body.dataset.ready = 'true';
}

main().catch((e: unknown) => {
  document.body.prepend(el('p', { class: 'error' }, `The page could not start: ${e instanceof Error ? e.message : String(e)}`));
});
