// The training form, built from the server's description of train()'s options (one field
// per option, in groups); fields the chosen mode does not read are greyed out and not sent.
import type { TrainFormField, TrainFormSpec, TrainRequest } from '../protocol.js';
import { el } from './dom.js';

type Control = HTMLInputElement | HTMLSelectElement;

function control(f: TrainFormField): Control {
  if (f.input === 'checkbox') {
    const box = el('input', { type: 'checkbox', name: f.name });
    box.checked = f.default === true;
    return box;
  }
  if (f.input === 'select') {
    const unset = f.default === undefined ? [el('option', { value: '' }, `default (${f.placeholder})`)] : [];
    const select = el('select', { name: f.name }, ...unset, ...(f.choices ?? []).map((c) => el('option', { value: c }, c)));
    if (f.default !== undefined) select.value = String(f.default);
    return select;
  }
  const input = el('input', { type: 'text', name: f.name, placeholder: f.placeholder });
  if (f.list) input.setAttribute('list', `${f.name}-list`);
  return input;
}

function fieldLabel(f: TrainFormField): HTMLElement {
  const title = f.help;
  const c = control(f);
  const suggestions = f.list ? el('datalist', { id: `${f.name}-list` }, ...f.list.map((v) => el('option', { value: v }))) : null;
  if (f.input === 'checkbox') return el('label', { title, class: 'check' }, el('span', {}, c, ` ${f.label}`));
  return el('label', { title }, f.label, c, suggestions);
}

function controlOf(form: HTMLFormElement, name: string): Control | null {
  return form.elements.namedItem(name) as Control | null;
}

/** Grey out (and leave out of the request) the fields the chosen mode does not read. */
function showApplicable(form: HTMLFormElement, spec: TrainFormSpec): void {
  const mode = controlOf(form, 'mode')?.value ?? '';
  const augment = (controlOf(form, 'augment') as HTMLInputElement | null)?.checked ?? false;
  for (const f of spec.fields) {
    const c = controlOf(form, f.name);
    if (!c) continue;
    const applies = f.modes.includes(mode) && !(f.needsAugment && mode === 'finetune' && !augment);
    c.disabled = !applies;
    const label = c.closest('label');
    label?.classList.toggle('off', !applies);
    label?.setAttribute(
      'title',
      applies ? f.help : `Applies to mode ${f.modes.join(' or ')}${f.needsAugment ? ' (finetune with augment ticked)' : ''}`,
    );
  }
}

export function buildTrainForm(form: HTMLFormElement, spec: TrainFormSpec): void {
  const run = el(
    'label',
    { title: 'the run folder, under the runs folder' },
    'Run name',
    el('input', { type: 'text', name: 'run', placeholder: 'automatic' }),
  );
  form.replaceChildren(
    ...spec.groups.map((g) => {
      const grid = el('div', { class: 'grid' }, ...spec.fields.filter((f) => f.group === g.id).map(fieldLabel), g.open ? run : null);
      if (g.open) return el('div', { 'data-group': g.id }, grid);
      return el('details', { 'data-group': g.id }, el('summary', {}, g.title), grid);
    }),
  );
  form.addEventListener('change', () => showApplicable(form, spec));
  showApplicable(form, spec);
}

export function trainRequest(form: HTMLFormElement, spec: TrainFormSpec): TrainRequest {
  const options: Record<string, string | boolean> = {};
  for (const f of spec.fields) {
    const c = controlOf(form, f.name);
    if (!c || c.disabled) continue;
    if (f.input === 'checkbox') {
      const ticked = (c as HTMLInputElement).checked;
      if (ticked !== (f.default === true)) options[f.name] = ticked;
    } else if (f.verbatim ? c.value !== '' : c.value.trim() !== '') {
      // a separator field keeps its spaces: ' ' is a label separator, not a blank field
      options[f.name] = c.value;
    }
  }
  return { run: controlOf(form, 'run')?.value ?? '', options };
}
