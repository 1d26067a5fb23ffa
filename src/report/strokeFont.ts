/**
 * A tiny stroke font, so charts carry their text as paths: the SVG and the PNG
 * rendered from it look the same on every machine, with or without
 * system fonts (CI images often have none).
 *
 * Glyphs live on a grid 4 units wide: cap height from y=0 to the baseline y=6,
 * x-height at y=2, descenders down to y=8. Each glyph is a list of polylines,
 * "x,y x,y ...". Unknown characters are drawn as a small box.
 */
const GLYPHS: Record<string, string[]> = {
  '0': ['1,0 3,0 4,1 4,5 3,6 1,6 0,5 0,1 1,0', '0.5,5 3.5,1'],
  '1': ['1,1 2,0 2,6', '1,6 3,6'],
  '2': ['0,1 1,0 3,0 4,1 4,2 0,6 4,6'],
  '3': ['0,1 1,0 3,0 4,1 4,2 3,3 1.5,3', '3,3 4,4 4,5 3,6 1,6 0,5'],
  '4': ['3,6 3,0 0,4 4,4'],
  '5': ['4,0 0,0 0,3 3,3 4,4 4,5 3,6 0,6'],
  '6': ['3.5,0 1,0 0,1 0,5 1,6 3,6 4,5 4,4 3,3 0,3'],
  '7': ['0,0 4,0 1.5,6'],
  '8': ['1,0 3,0 4,1 4,2 3,3 1,3 0,2 0,1 1,0', '1,3 0,4 0,5 1,6 3,6 4,5 4,4 3,3'],
  '9': ['4,3 1,3 0,2 0,1 1,0 3,0 4,1 4,5 3,6 0.5,6'],
  '.': ['2,5.8 2,6'],
  ',': ['2,5.6 1.5,7'],
  ':': ['2,2.8 2,3', '2,5.8 2,6'],
  '-': ['1,3.5 3,3.5'],
  '+': ['0.5,3.5 3.5,3.5', '2,2 2,5'],
  '/': ['4,0 0,6'],
  '(': ['3,0 2,1 1.5,3 1.5,5 2,7 3,8'],
  ')': ['1,0 2,1 2.5,3 2.5,5 2,7 1,8'],
  '%': ['0,6 4,0', '0.5,0.5 1,0.5', '3,5.5 3.5,5.5'],
  '=': ['0.5,2.8 3.5,2.8', '0.5,4.2 3.5,4.2'],
  _: ['0,6.5 4,6.5'],
  '#': ['1.3,1 1,6', '3,1 2.7,6', '0.3,2.6 4,2.6', '0,4.4 3.7,4.4'],
  A: ['0,6 2,0 4,6', '0.7,4 3.3,4'],
  B: ['0,6 0,0 3,0 4,1 4,2 3,3 0,3', '3,3 4,4 4,5 3,6 0,6'],
  C: ['4,1 3,0 1,0 0,1 0,5 1,6 3,6 4,5'],
  D: ['0,0 0,6 3,6 4,5 4,1 3,0 0,0'],
  E: ['4,0 0,0 0,6 4,6', '0,3 3,3'],
  F: ['4,0 0,0 0,6', '0,3 3,3'],
  G: ['4,1 3,0 1,0 0,1 0,5 1,6 3,6 4,5 4,3 2,3'],
  H: ['0,0 0,6', '4,0 4,6', '0,3 4,3'],
  I: ['1,0 3,0', '2,0 2,6', '1,6 3,6'],
  J: ['4,0 4,5 3,6 1,6 0,5'],
  K: ['0,0 0,6', '4,0 0,4', '1.3,3 4,6'],
  L: ['0,0 0,6 4,6'],
  M: ['0,6 0,0 2,3 4,0 4,6'],
  N: ['0,6 0,0 4,6 4,0'],
  O: ['1,0 3,0 4,1 4,5 3,6 1,6 0,5 0,1 1,0'],
  P: ['0,6 0,0 3,0 4,1 4,2 3,3 0,3'],
  Q: ['1,0 3,0 4,1 4,5 3,6 1,6 0,5 0,1 1,0', '2.5,4.5 4,6.5'],
  R: ['0,6 0,0 3,0 4,1 4,2 3,3 0,3', '2,3 4,6'],
  S: ['4,1 3,0 1,0 0,1 0,2 1,3 3,3 4,4 4,5 3,6 1,6 0,5'],
  T: ['0,0 4,0', '2,0 2,6'],
  U: ['0,0 0,5 1,6 3,6 4,5 4,0'],
  V: ['0,0 2,6 4,0'],
  W: ['0,0 1,6 2,3 3,6 4,0'],
  X: ['0,0 4,6', '4,0 0,6'],
  Y: ['0,0 2,3 4,0', '2,3 2,6'],
  Z: ['0,0 4,0 0,6 4,6'],
  a: ['0.5,2 3,2 4,3 4,6', '4,4 1,4 0,4.7 0,5.3 1,6 3,6 4,5'],
  b: ['0,0 0,6', '0,3 1,2 3,2 4,3 4,5 3,6 1,6 0,5'],
  c: ['4,2.6 3,2 1,2 0,3 0,5 1,6 3,6 4,5.4'],
  d: ['4,0 4,6', '4,3 3,2 1,2 0,3 0,5 1,6 3,6 4,5'],
  e: ['0,4 4,4 4,3 3,2 1,2 0,3 0,5 1,6 3,6 4,5.4'],
  f: ['3.5,0 2.5,0 1.5,1 1.5,6', '0,2 3,2'],
  g: ['4,2 4,7 3,8 1,8 0,7.4', '4,3 3,2 1,2 0,3 0,4.5 1,5.5 3,5.5 4,4.5'],
  h: ['0,0 0,6', '0,3 1,2 3,2 4,3 4,6'],
  i: ['2,2 2,6', '2,0.6 2,0.8'],
  j: ['2.5,2 2.5,7 1.5,8 0.5,8', '2.5,0.6 2.5,0.8'],
  k: ['0,0 0,6', '3.5,2 0,4.5', '1.2,3.7 4,6'],
  l: ['1.5,0 1.5,5 2.5,6'],
  m: ['0,6 0,2', '0,3 1,2 2,3 2,6', '2,3 3,2 4,3 4,6'],
  n: ['0,6 0,2', '0,3 1,2 3,2 4,3 4,6'],
  o: ['1,2 3,2 4,3 4,5 3,6 1,6 0,5 0,3 1,2'],
  p: ['0,2 0,8', '0,3 1,2 3,2 4,3 4,5 3,6 1,6 0,5'],
  q: ['4,2 4,8', '4,3 3,2 1,2 0,3 0,5 1,6 3,6 4,5'],
  r: ['0,2 0,6', '0,4 2,2 4,2'],
  s: ['4,2.6 3,2 1,2 0,2.8 1,4 3,4 4,4.8 4,5.2 3,6 1,6 0,5.4'],
  t: ['1.5,0.5 1.5,5 2.5,6 3.5,6', '0,2 3.5,2'],
  u: ['0,2 0,5 1,6 3,6 4,5', '4,2 4,6'],
  v: ['0,2 2,6 4,2'],
  w: ['0,2 1,6 2,3.5 3,6 4,2'],
  x: ['0,2 4,6', '4,2 0,6'],
  y: ['0,2 2,6', '4,2 1,8 0,8'],
  z: ['0,2 4,2 0,6 4,6'],
};
const MISSING = ['0,1 4,1 4,6 0,6 0,1'];

/** Horizontal advance of one character, in grid units (the grid is 6 units tall). */
const ADVANCE = 5.6;
const SPACE = 4;

export type Anchor = 'start' | 'middle' | 'end';

/** Narrow glyphs: [x offset, advance], so "Training" doesn't read as "Tra i n i ng". */
const NARROW: Record<string, [number, number]> = {
  i: [-1, 3],
  l: [-0.7, 3.4],
  j: [-0.5, 3.8],
  '.': [-1, 3],
  ',': [-1, 3],
  ':': [-1, 3],
  f: [-0.3, 4.4],
  t: [-0.2, 4.6],
  r: [0, 5],
  I: [-0.5, 4.4],
  '1': [-0.3, 5],
};

function advanceOf(ch: string): number {
  return ch === ' ' ? SPACE : (NARROW[ch]?.[1] ?? ADVANCE);
}

/** Width in pixels of `text` drawn with cap height `size`. */
export function textWidth(text: string, size: number): number {
  const unit = size / 6;
  let w = 0;
  for (const ch of text) w += advanceOf(ch);
  return Math.max(0, w - (ADVANCE - 4)) * unit;
}

/**
 * SVG path data for `text` with its baseline at y and cap height `size` px, anchored
 * at x. Stroke it (fill none, round caps and joins, width about size/8).
 */
export function textPath(text: string, x: number, y: number, size: number, anchor: Anchor = 'start'): string {
  const unit = size / 6;
  const width = textWidth(text, size);
  let penX = anchor === 'start' ? x : anchor === 'middle' ? x - width / 2 : x - width;
  const top = y - 6 * unit;
  const parts: string[] = [];
  for (const ch of text) {
    if (ch !== ' ') {
      const dx = NARROW[ch]?.[0] ?? 0;
      for (const line of GLYPHS[ch] ?? MISSING) {
        const pts = line.split(' ').map((p) => {
          const [gx, gy] = p.split(',').map(Number);
          return `${round(penX + (gx + dx) * unit)} ${round(top + gy * unit)}`;
        });
        parts.push(`M${pts.join('L')}`);
      }
    }
    penX += advanceOf(ch) * unit;
  }
  return parts.join('');
}

/** A complete `<path>` element for text. */
export function svgText(
  text: string,
  x: number,
  y: number,
  size: number,
  opts: { anchor?: Anchor; color?: string; rotate?: number } = {},
): string {
  const d = textPath(text, x, y, size, opts.anchor ?? 'start');
  const transform = opts.rotate ? ` transform="rotate(${opts.rotate} ${round(x)} ${round(y)})"` : '';
  return `<path d="${d}" fill="none" stroke="${opts.color ?? '#222'}" stroke-width="${round(Math.max(0.8, size / 7.5))}" stroke-linecap="round" stroke-linejoin="round"${transform}><title>${escapeXml(text)}</title></path>`;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
