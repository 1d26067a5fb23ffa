import { z } from 'zod';
import { DECIMAL_NUMBER, WHOLE_NUMBER } from './optionLimits.js';

// The kinds of value an option can take. Each kind is checked by zod and described in
// words, so that one declaration gives the check, the message and the help text.

/** Who is calling: options are named `epochs` for code, `--epochs` for the command line, `"Epochs"` (the field's label) on the page's form. */
export type OptionNaming = 'api' | 'cli' | 'form';

type KindName = 'int' | 'number' | 'choice' | 'text' | 'switch';

export interface Kind<T> {
  name: KindName;
  zod: z.ZodType<T, T>;
  /** What a valid value is, e.g. 'a whole number >= 1', 'one of flatten, avg'. */
  expect: string;
  choices?: readonly T[];
  /** Numbers: the bounds (min excluded unless minInclusive; max included). */
  min?: number;
  max?: number;
  minInclusive?: boolean;
  /** The `<n>` of `--epochs <n>`. */
  arg: string;
  /** Command-line or form text to a value; undefined when the text is not one. */
  fromText(text: string): T | undefined;
}

export function int(min: number, max?: number): Kind<number> {
  let zod = z.number().int().gte(min);
  if (max !== undefined) zod = zod.lte(max);
  return {
    name: 'int',
    zod,
    min,
    max,
    minInclusive: true,
    expect: `a whole number ${max === undefined ? `>= ${min}` : `from ${min} to ${max}`}`,
    arg: 'n',
    fromText: (t) => (WHOLE_NUMBER.test(t) && Number.isSafeInteger(Number(t)) ? Number(t) : undefined),
  };
}

/** A finite number; `min` itself is allowed only with minInclusive (a learning rate of 0 trains nothing). */
export function decimal(min: number, max: number | undefined, o: { minInclusive?: boolean } = {}): Kind<number> {
  let zod = o.minInclusive ? z.number().gte(min) : z.number().gt(min);
  if (max !== undefined) zod = zod.lte(max);
  const range =
    max === undefined
      ? `${o.minInclusive ? '>=' : '>'} ${min}`
      : o.minInclusive
        ? `from ${min} to ${max}`
        : `above ${min} and at most ${max}`;
  return {
    name: 'number',
    zod,
    min,
    max,
    minInclusive: Boolean(o.minInclusive),
    expect: `a number ${range}`,
    arg: 'x',
    fromText: (t) => (DECIMAL_NUMBER.test(t) && Number.isFinite(Number(t)) ? Number(t) : undefined),
  };
}

export function oneOf<const T extends string | number>(choices: readonly T[], arg = 'name'): Kind<T> {
  return {
    name: 'choice',
    zod: z.custom<T>((v) => (choices as readonly unknown[]).includes(v)),
    expect: `one of ${choices.join(', ')}`,
    choices,
    arg,
    fromText: (t) => choices.find((c) => String(c) === t),
  };
}

/** A path, a name or a list in words: any string but an empty one. */
export function text(expect: string, arg: string): Kind<string> {
  return { name: 'text', zod: z.string().refine((s) => s.trim() !== ''), expect, arg, fromText: (t) => t };
}

/** On or off; on the command line a flag without a value. */
export const onOff: Kind<boolean> = {
  name: 'switch',
  zod: z.boolean(),
  expect: 'true or false',
  arg: '',
  fromText: (t) => (t === 'true' ? true : t === 'false' ? false : undefined),
};
