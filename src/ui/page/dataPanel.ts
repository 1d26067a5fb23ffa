// Section 1 of the page, Data: open or create the data folder, its class counts and
// check-data's problems, thumbnails by split and class, and uploads.
import type { DataState, ImagePage } from '../protocol.js';
import { getJson, postForm, postJson } from './api.js';
import { byId, el, table } from './dom.js';
import { action, say, state } from './pageState.js';

const PAGE_SIZE = 24;
/** The training form's box of the labels-table fields (its title begins so). */
const LABELS_GROUP = 'Labels from a table';

export function showData(d: DataState): void {
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
  const tableNote = d.tables?.length
    ? ` It holds ${d.tables.join(', ')}: to train from a labels table, name it under 2. Train, "${LABELS_GROUP}".`
    : '';
  // a folder without class folders: the form's table field starts on its table (when the field is empty)
  const labels = document.querySelector<HTMLInputElement>('#train-form [name=labels]');
  if (d.error && d.tables?.length && labels && labels.value === '') {
    labels.value = d.tables[0];
    labels.closest('details')?.setAttribute('open', '');
  }
  say(
    'data-message',
    (d.error ? `${d.error}${tableNote}` : undefined) ??
      `${s.classNames.length} classes, ${s.splits.reduce((a, x) => a + x.total, 0)} images${s.ok ? ', no problems found' : `, ${counted(s.problems.filter((p) => p.severity === 'error').length, 'error')} and ${counted(s.problems.filter((p) => p.severity === 'warning').length, 'warning')} listed below`}.`,
    d.error ? (d.tables?.length ? '' : 'error') : s.ok ? 'ok' : '',
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

export function wireData(): void {
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
