// The Review panel: the images of the selected run most worth a look (top losses per class,
// uncertain answers, check-data's findings, the map's outliers), each with relabel, quarantine
// and checked buttons, and the journal with undo. The server does every action (atomic,
// journaled in the data folder); this panel only asks. Other panels send files here with a
// `tlkit:review` event: `{ detail: { files: string[], run?: string } }`, paths relative to the
// data folder.
import type { ReviewEntryView, ReviewItemView, ReviewView } from '../protocol.js';
import { getJson, postJson } from './api.js';
import { byId, el, fixed } from './dom.js';
import { action, say, state } from './pageState.js';

/** What another panel sends with the `tlkit:review` event. */
export interface ReviewRequestDetail {
  files: string[];
  run?: string;
}

const REASON_WORDS: Record<string, string> = {
  'top-loss': 'top loss',
  uncertain: 'uncertain',
  duplicate: 'duplicate',
  tiny: 'tiny',
  outlier: 'map outlier',
  selected: 'selected',
};

let classes: string[] = [];
let shownRun: string | null = null;

const api = (run: string, rest = '') => `/api/runs/${encodeURIComponent(run)}/review${rest}`;

function actionButton(text: string, title: string, f: () => Promise<void>): HTMLButtonElement {
  const b = el('button', { class: 'secondary', type: 'button', title }, text);
  action(b, 'review-message', f);
  return b;
}

/** One image: thumbnail, class and the run's answer, why listed, and its buttons. */
function card(run: string, item: ReviewItemView): HTMLElement {
  const choose = el('select', { class: 'review-to', 'aria-label': `new class of ${item.file}` });
  for (const c of classes) if (c !== item.label) choose.append(el('option', { value: c }, c));
  const answer =
    item.predicted !== undefined
      ? `run says ${item.predicted} ${fixed((item.confidence ?? 0) * 100, 1)}%${item.probability !== undefined ? `, P(${item.label}) ${fixed(item.probability, 3)}` : ''}`
      : '';
  return el(
    'div',
    { class: 'review-item', 'data-file': item.file, title: item.file },
    el('img', { src: item.url, alt: item.file }),
    el('div', { class: 'review-file' }, item.file),
    el('div', {}, el('strong', {}, item.label ?? '(no class)'), answer ? ` · ${answer}` : ''),
    el(
      'div',
      { class: 'review-reasons' },
      ...item.reasons.map((r) => el('span', { class: `reason reason-${r.kind}`, title: r.text }, REASON_WORDS[r.kind] ?? r.kind)),
    ),
    el(
      'div',
      { class: 'row' },
      choose,
      actionButton('Relabel', 'Move the image to the chosen class (journaled; undo brings it back)', () =>
        act(run, { action: 'relabel', file: item.file, to: choose.value }),
      ),
      actionButton('Quarantine', 'Set the image aside in _quarantine/ inside the data folder', () =>
        act(run, { action: 'quarantine', file: item.file }),
      ),
      actionButton('Checked', 'Looked at, nothing to change: leave the queue', () => act(run, { action: 'check', file: item.file })),
    ),
  );
}

function describe(e: ReviewEntryView): string {
  const move = e.from !== e.to ? `${e.from} → ${e.to}` : e.from;
  const labels = e.toLabel !== undefined ? ` (${e.fromLabel ?? '?'} → ${e.toLabel})` : '';
  return `${e.time.replace('T', ' ').slice(0, 19)} ${e.action} ${move}${labels}${e.undone ? ' — undone' : ''}`;
}

function showJournal(run: string, entries: ReviewEntryView[]): void {
  byId('review-journal').replaceChildren(
    ...entries.map((e) =>
      el(
        'li',
        { 'data-id': e.id, 'data-action': e.action, class: e.undone ? 'undone' : '' },
        describe(e),
        ' ',
        e.undone || e.action === 'undo'
          ? null
          : actionButton('Undo', 'Reverse this action (the file back byte for byte)', () => undo(run, e.id)),
      ),
    ),
  );
}

function showItems(run: string, items: ReviewItemView[], heading: string): void {
  byId('review-items').replaceChildren(
    el('p', { class: 'message' }, heading),
    el('div', { class: 'review-grid' }, ...items.map((i) => card(run, i))),
  );
}

async function act(run: string, body: { action: string; file: string; to?: string }): Promise<void> {
  const r = await postJson<{ done: ReviewEntryView; entries: ReviewEntryView[] }>(api(run, '/action'), body);
  say(
    'review-message',
    `${r.done.action} ${r.done.from}${r.done.to !== r.done.from ? ` → ${r.done.to}` : ''}: done, in the journal.`,
    'ok',
  );
  await load(run, false);
}

async function undo(run: string, id?: string): Promise<void> {
  const r = await postJson<{ done: ReviewEntryView; entries: ReviewEntryView[] }>(api(run, '/undo'), id ? { id } : {});
  say('review-message', `Undone: ${r.done.from} → ${r.done.to}.`, 'ok');
  await load(run, false);
}

/** Build the queue of `run` (the server scores the images it has not scored yet) and show it with the journal. */
async function load(run: string, announce = true): Promise<void> {
  if (announce) say('review-message', `Building the review queue of ${run} ...`);
  const v = await getJson<ReviewView>(api(run));
  classes = v.classes;
  shownRun = run;
  showItems(
    run,
    v.items,
    `${v.items.length} image${v.items.length === 1 ? '' : 's'} of ${v.dataRoot} to look at${v.checked ? ` (${v.checked} checked left out)` : ''}` +
      `${v.table ? `; relabelling rewrites rows of ${v.table}` : ''}.`,
  );
  showJournal(run, v.entries);
  byId<HTMLButtonElement>('review-undo').disabled = !v.entries.some((e) => !e.undone && e.action !== 'undo');
  if (announce) say('review-message', `Journal: ${v.journal}`, 'ok');
}

/** Files sent by another panel: shown with the same buttons, at the top of the panel. */
async function review(detail: ReviewRequestDetail): Promise<void> {
  const run = detail.run ?? state.selected;
  if (!run) return say('review-message', 'Select a run first: review acts on its data folder.', 'error');
  selectForReview(run);
  const r = await postJson<{ items: ReviewItemView[]; classes: string[] }>(api(run, '/files'), { files: detail.files });
  classes = r.classes;
  shownRun = run;
  showItems(run, r.items, `${r.items.length} image${r.items.length === 1 ? '' : 's'} chosen to review.`);
  byId('review').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

function selectForReview(run: string): void {
  byId('review-run').textContent = run;
  byId<HTMLButtonElement>('review-load').disabled = false;
  if (shownRun !== run) {
    byId('review-items').replaceChildren();
    byId('review-journal').replaceChildren();
  }
}

export function wireReview(): void {
  // The run selected in the runs table is the one reviewed.
  byId('runs').addEventListener('change', (e) => {
    const t = e.target as HTMLInputElement;
    if (t.type === 'radio' && t.checked) selectForReview(t.value);
  });
  action(byId<HTMLButtonElement>('review-load'), 'review-message', async () => {
    if (state.selected) await load(state.selected);
  });
  action(byId<HTMLButtonElement>('review-undo'), 'review-message', async () => {
    if (shownRun) await undo(shownRun);
  });
  document.addEventListener('tlkit:review', (e) => {
    const detail = (e as CustomEvent<ReviewRequestDetail>).detail;
    if (!detail || !Array.isArray(detail.files) || detail.files.length === 0) return;
    review(detail).catch((err: unknown) => say('review-message', err instanceof Error ? err.message : String(err), 'error'));
  });
}
