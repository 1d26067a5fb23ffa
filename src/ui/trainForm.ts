import { FAMILY_NAMES } from '../applications/index.js';
import { UserError } from '../errors.js';
import { EXPORT_FORMATS } from '../export/exportRun.js';
import {
  formLabel,
  optionName,
  TRAIN_MODES,
  TRAIN_OPTIONS,
  trainOptionsFromText,
  type TrainOption,
  type TrainOptionsInput,
} from '../workflows/options.js';
import { FORM_GROUPS, type FormGroup } from '../workflows/trainOptions.js';
import type { TrainFormField, TrainFormSpec } from './protocol.js';

// The page's training form is made from the options' declaration, and what it sends is
// parsed and checked by the same declaration, with messages that name the form's fields
// ("Epochs" must be ...), not command-line flags: the page is for people who never open a terminal.

const GROUP_TITLES: Record<FormGroup, string> = {
  basics: 'Training',
  labels: 'Labels from a table (instead of class folders; multi-label)',
  head: 'Head',
  augmentation: 'Augmentation (augment mode; finetune with augment)',
  finetune: 'Fine-tuning',
  onnx: 'ONNX base (a .onnx file)',
  more: 'More',
};

/** The base field's suggestions: the families, and nsfwjs, the one base that needs no download. */
const BASE_SUGGESTIONS = [...FAMILY_NAMES, 'nsfwjs'];

function field(o: TrainOption): TrainFormField {
  const label = formLabel(o);
  const input = o.kind.name === 'switch' ? 'checkbox' : o.kind.choices ? 'select' : 'text';
  const f: TrainFormField = {
    name: o.id,
    label,
    flag: o.flag,
    help: o.help,
    input,
    placeholder: o.form?.placeholder ?? (o.default !== undefined ? String(o.default) : (o.defaultText ?? '')),
    modes: [...(o.modes ?? TRAIN_MODES)],
    needsAugment: Boolean(o.needsAugment),
    group: o.form?.group ?? 'more',
  };
  if (o.kind.choices) f.choices = o.kind.choices.map(String);
  // The page may start a field elsewhere than the option's default (--recipe: fastai's fine-tune here, the book's on the command line).
  const start = o.form?.blank ? undefined : (o.form?.default ?? o.default);
  if (start !== undefined) f.default = start as string | number | boolean;
  if (o.form?.list === 'bases') f.list = [...BASE_SUGGESTIONS];
  if (o.form?.verbatim) f.verbatim = true;
  return f;
}

/** Every option the page sets (the others, such as out, it fixes itself: see FormHint.hidden). */
export const FORM_OPTIONS = TRAIN_OPTIONS.filter((o) => o.form?.hidden === undefined);

export function trainFormSpec(): TrainFormSpec {
  const fields = FORM_OPTIONS.map(field);
  return {
    groups: FORM_GROUPS.filter((g) => fields.some((f) => f.group === g)).map((g) => ({
      id: g,
      title: GROUP_TITLES[g],
      open: g === 'basics',
    })),
    fields,
    exportFormats: EXPORT_FORMATS,
  };
}

const FORM_IDS = new Set(FORM_OPTIONS.map((o) => o.id));
/** Fields whose text counts as typed, spaces included (a space is fastai's usual label separator). */
const VERBATIM = new Set(FORM_OPTIONS.filter((o) => o.form?.verbatim).map((o) => o.id));

/** The form's values to train()'s options (blank fields left out: their defaults apply); messages name the fields by their labels. */
export function trainOptionsFromForm(values: Record<string, unknown>): TrainOptionsInput {
  const given: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(values)) {
    if (!FORM_IDS.has(name)) throw new UserError(`The training form has no field '${name}'.`);
    if (typeof v === 'string') {
      // blank (or, but for a separator, only spaces): the option's default
      const text = VERBATIM.has(name) ? v : v.trim();
      if (text !== '') given[name] = text;
    } else if (typeof v === 'boolean') given[name] = v;
    else if (v !== '' && v !== null && v !== undefined) {
      const o = FORM_OPTIONS.find((f) => f.id === name) as TrainOption;
      throw new UserError(`The field "${formLabel(o)}" takes text or a tick, got ${JSON.stringify(v)}.`);
    }
  }
  return trainOptionsFromText(given, 'form');
}

const BY_FLAG = new Map(TRAIN_OPTIONS.map((o) => [o.flag, o]));

/**
 * A message from below train() (a weights download, a base file) as the page says it: the
 * training options' flags it names become the form's fields ("--weights none" becomes
 * '"Weights" none'). train()'s own checks name the fields already.
 */
export function inFormWords(message: string): string {
  return message.replace(/--[a-z][a-z0-9-]*/g, (flag) => {
    const o = BY_FLAG.get(flag);
    return o ? optionName(o.id, 'form') : flag;
  });
}
