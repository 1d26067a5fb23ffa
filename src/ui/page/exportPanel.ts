// Section 5 of the page, Export: the selected run in one of the export formats, with
// links to the files written.
import type { ExportView } from '../protocol.js';
import { postJson } from './api.js';
import { byId, el } from './dom.js';
import { say, state } from './pageState.js';

export async function exportRun(format: string): Promise<void> {
  const run = state.selected;
  if (!run) throw new Error('Select a trained run first (Runs).');
  say('export-message', `Exporting ${run} as ${format} ...`);
  const r = await postJson<ExportView>(`/api/runs/${encodeURIComponent(run)}/export`, { format });
  byId('export-files').replaceChildren(...r.files.map((f) => el('li', {}, el('a', { href: f.url, download: f.rel }, f.rel))));
  say('export-message', `Exported ${run} as ${format} to ${r.out}`, 'ok');
}
