// The map of the dataset: the selected run's images laid out in 2-D (UMAP of its base's
// pooled features, `tlkit map` run by the server), one dot an image, coloured by label or by
// split. Hover a dot: its thumbnail; click it: review it; drag a lasso around dots: review
// them all. The images whose neighbours carry another label are listed under the map. The
// Review panel does the reviewing: this panel only says which files, with a 'tlkit:review' event.
import type { MapAnswer, MapPointView } from '../protocol.js';
import { getJson } from './api.js';
import { byId, el } from './dom.js';
import { action, say, state } from './pageState.js';

type ReadyMap = Extract<MapAnswer, { status: 'ready' }>;
type Point = [number, number];

const SVG_NS = 'http://www.w3.org/2000/svg';
const WIDTH = 760;
const HEIGHT = 540;
const PAD = 14;
/** How near (in the plot's units) the pointer must be to a dot to hover or click it. */
const REACH = 8;
/** A drag shorter than this is a click, not a lasso. */
const CLICK_SLOP = 4;
/** Outliers listed under the map (the rest are counted). */
const LISTED = 40;
const LABEL_COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const SPLIT_COLOURS: Record<string, string> = { train: '#4c78a8', validation: '#e45756', test: '#54a24b' };

/** Whether (x, y) lies inside the polygon (even-odd rule: a ray to the right crosses its edges an odd number of times). */
function insidePolygon(x: number, y: number, polygon: readonly Point[]): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i];
    const [xj, yj] = polygon[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** The map shown: its points' places in the plot (x, y pairs) and the dots. */
let shown: { map: ReadyMap; at: Float64Array; dots: SVGCircleElement[] } | null = null;

const thumbUrl = (run: string, file: string) => `/api/runs/${encodeURIComponent(run)}/thumbnail?file=${encodeURIComponent(file)}`;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** Tell the Review panel which files to show (one clicked dot, a lasso's group, an outlier of the list). */
function review(files: string[]): void {
  document.dispatchEvent(new CustomEvent('tlkit:review', { detail: { files, run: shown?.map.run } }));
}

function colourOf(map: ReadyMap, p: MapPointView, by: string): string {
  if (by === 'split') return SPLIT_COLOURS[p.split] ?? '#999';
  return LABEL_COLOURS[Math.max(0, map.classNames.indexOf(p.label)) % LABEL_COLOURS.length];
}

function colourBy(): string {
  return byId<HTMLSelectElement>('map-colour').value;
}

/** Fill the dots and the legend by label or by split. */
function paint(): void {
  if (!shown) return;
  const { map, dots } = shown;
  const by = colourBy();
  map.points.forEach((p, i) => dots[i].setAttribute('fill', colourOf(map, p, by)));
  const groups = by === 'split' ? map.splits : map.classNames;
  byId('map-legend').replaceChildren(
    ...groups.map((g) => {
      const n = map.points.filter((p) => (by === 'split' ? p.split : p.label) === g).length;
      const colour = by === 'split' ? (SPLIT_COLOURS[g] ?? '#999') : LABEL_COLOURS[map.classNames.indexOf(g) % LABEL_COLOURS.length];
      return el('div', {}, el('span', { class: 'swatch', style: `background:${colour}` }), `${g} (${n})`);
    }),
    el('div', {}, el('span', { class: 'swatch ring' }), 'outlier'),
  );
}

/** The dot nearest to (x, y) in the plot's units, within REACH; -1 if none. */
function nearest(x: number, y: number): number {
  if (!shown) return -1;
  let best = -1;
  let bestD = REACH * REACH;
  const { at } = shown;
  for (let i = 0; i < at.length / 2; i++) {
    const d = (at[2 * i] - x) ** 2 + (at[2 * i + 1] - y) ** 2;
    if (d <= bestD) {
      bestD = d;
      best = i;
    }
  }
  return best;
}

function hideTip(): void {
  byId('map-tip').hidden = true;
  for (const d of Array.from(document.querySelectorAll('#map-svg circle.hover'))) d.classList.remove('hover');
}

function showTip(i: number, clientX: number, clientY: number): void {
  if (!shown) return;
  const p = shown.map.points[i];
  const tip = byId('map-tip');
  const img = byId<HTMLImageElement>('map-tip-img');
  if (tip.dataset.file !== p.file) {
    img.src = thumbUrl(shown.map.run, p.file);
    img.alt = p.file;
    tip.dataset.file = p.file;
    byId('map-tip-file').textContent = p.file;
    byId('map-tip-what').textContent =
      p.looksLike && p.score > 0
        ? `${p.label}, ${p.split}; ${Math.round(p.score * 100)}% of its neighbours are ${p.looksLike}`
        : `${p.label}, ${p.split}`;
  }
  const box = byId('map-plot').getBoundingClientRect();
  const left = clientX - box.left + 14;
  tip.style.left = `${left + 190 > box.width ? left - 220 : left}px`;
  tip.style.top = `${Math.max(0, clientY - box.top - 60)}px`;
  tip.hidden = false;
  for (const d of Array.from(document.querySelectorAll('#map-svg circle.hover'))) d.classList.remove('hover');
  shown.dots[i].classList.add('hover');
}

/** Mark the dots of `chosen` selected (and only those). */
function select(chosen: number[]): void {
  if (!shown) return;
  for (const d of shown.dots) d.classList.remove('selected');
  for (const i of chosen) shown.dots[i].classList.add('selected');
}

/** Pointer events: hover shows the thumbnail, a click reviews a dot, a drag draws the lasso and reviews what it holds. */
function wirePointer(plot: SVGSVGElement, lasso: SVGPolygonElement): void {
  const toPlot = (e: PointerEvent): Point => {
    const m = plot.getScreenCTM();
    if (!m) return [e.offsetX, e.offsetY];
    const q = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
    return [q.x, q.y];
  };
  let path: Point[] | null = null;
  plot.addEventListener('pointerdown', (e) => {
    if (e.button !== 0 || !shown) return;
    e.preventDefault();
    plot.setPointerCapture(e.pointerId);
    path = [toPlot(e)];
    lasso.setAttribute('points', '');
  });
  plot.addEventListener('pointermove', (e) => {
    const at = toPlot(e);
    if (path) {
      const last = path[path.length - 1];
      if (Math.hypot(at[0] - last[0], at[1] - last[1]) >= 1) path.push(at);
      lasso.setAttribute('points', path.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' '));
      if (path.length > 2) hideTip();
      return;
    }
    const i = nearest(at[0], at[1]);
    if (i < 0) hideTip();
    else showTip(i, e.clientX, e.clientY);
  });
  plot.addEventListener('pointerup', (e) => {
    if (!path || !shown) return;
    const drawn = [...path, toPlot(e)];
    path = null;
    const xs = drawn.map((p) => p[0]);
    const ys = drawn.map((p) => p[1]);
    if (Math.max(...xs) - Math.min(...xs) < CLICK_SLOP && Math.max(...ys) - Math.min(...ys) < CLICK_SLOP) {
      lasso.setAttribute('points', '');
      const i = nearest(drawn[0][0], drawn[0][1]);
      if (i < 0) return;
      select([i]);
      say('map-selection', `${shown.map.points[i].file}: sent to Review.`);
      review([shown.map.points[i].file]);
      return;
    }
    const { at, map } = shown;
    const inside = map.points.map((_, i) => i).filter((i) => insidePolygon(at[2 * i], at[2 * i + 1], drawn));
    select(inside);
    byId('map-selection').dataset.count = String(inside.length);
    if (inside.length === 0) {
      say('map-selection', 'No image inside the lasso.');
      return;
    }
    say('map-selection', `${inside.length} image${inside.length === 1 ? '' : 's'} selected: sent to Review.`, 'ok');
    review(inside.map((i) => map.points[i].file));
  });
  plot.addEventListener('pointerleave', () => {
    if (!path) hideTip();
  });
}

/** Draw a map: the dots (data coordinates fitted into the plot, the same scale on both axes, y up), the legend, the outliers. */
function render(map: ReadyMap): void {
  const xs = map.points.map((p) => p.x);
  const ys = map.points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const scale = Math.min((WIDTH - 2 * PAD) / Math.max(x1 - x0, 1e-9), (HEIGHT - 2 * PAD) / Math.max(y1 - y0, 1e-9));
  // plot x = ox + scale * x, plot y = oy - scale * y
  const ox = WIDTH / 2 - (scale * (x0 + x1)) / 2;
  const oy = HEIGHT / 2 + (scale * (y0 + y1)) / 2;
  const at = new Float64Array(map.points.length * 2);
  const plot = svg('svg', { id: 'map-svg', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: WIDTH, height: HEIGHT });
  plot.dataset.scale = String(scale);
  plot.dataset.ox = String(ox);
  plot.dataset.oy = String(oy);
  plot.append(svg('rect', { x: 0, y: 0, width: WIDTH, height: HEIGHT, fill: '#fff' }));
  const g = svg('g', { id: 'map-points' });
  const dots = map.points.map((p, i) => {
    at[2 * i] = ox + scale * p.x;
    at[2 * i + 1] = oy - scale * p.y;
    const dot = svg('circle', { cx: at[2 * i].toFixed(2), cy: at[2 * i + 1].toFixed(2), r: 3.2 });
    dot.dataset.file = p.file;
    if (p.outlier) dot.classList.add('outlier');
    return dot;
  });
  // Outliers last, on top of the dots around them.
  g.append(...dots.filter((d) => !d.classList.contains('outlier')), ...dots.filter((d) => d.classList.contains('outlier')));
  const lasso = svg('polygon', { id: 'map-lasso', points: '' });
  plot.append(g, lasso);
  byId('map-plot').replaceChildren(
    plot,
    el(
      'div',
      { id: 'map-tip', class: 'tip', hidden: '' },
      el('img', { id: 'map-tip-img', alt: '', width: '160' }),
      el('div', { id: 'map-tip-file' }),
      el('div', { id: 'map-tip-what', class: 'muted' }),
    ),
  );
  shown = { map, at, dots };
  wirePointer(plot, lasso);
  paint();
  showOutliers(map);
  const counts = map.splits.map((s) => `${s} ${map.points.filter((p) => p.split === s).length}`).join(', ');
  say(
    'map-message',
    `${map.points.length} images of ${map.run} (${counts}), UMAP seed ${map.seed}, computed in ${map.seconds.toFixed(1)} s.` +
      (map.missing > 0 ? ` ${map.missing} of them have moved since: Recompute to see them where they are now.` : ''),
    map.missing > 0 ? 'error' : 'ok',
  );
  say('map-selection', 'Hover a dot for its photo, click it to review it, or drag a lasso around a group.');
  byId('map-section').dataset.run = map.run;
  plot.dataset.points = String(map.points.length);
}

function showOutliers(map: ReadyMap): void {
  const items = map.outliers.slice(0, LISTED).map((i, rank) => {
    const p = map.points[i];
    const item = el(
      'button',
      { type: 'button', class: 'outlier-item', title: `Review ${p.file}`, 'data-file': p.file },
      el('img', { src: thumbUrl(map.run, p.file), alt: p.file, loading: 'lazy' }),
      el('span', {}, `${rank + 1}. ${p.file}`),
      el('span', { class: 'muted' }, `${p.label}, looks like ${p.looksLike ?? '?'} (${Math.round(p.score * 100)}%)`),
    );
    item.addEventListener('click', () => {
      select([i]);
      say('map-selection', `${p.file}: sent to Review.`);
      review([p.file]);
    });
    return item;
  });
  const more = map.outliers.length - items.length;
  const parts: Array<HTMLElement | null> = [
    el(
      'h3',
      {},
      `Outliers: ${map.outliers.length}`,
      el('small', {}, ` images most of whose ${map.outlierNeighbors} nearest neighbours carry another label, most outlying first`),
    ),
    items.length === 0 ? el('p', { class: 'message' }, "None: every image's neighbours mostly share its label.") : null,
    el('div', { class: 'outlier-list' }, ...items),
    more > 0 ? el('p', { class: 'message' }, `and ${more} more (map.json in the run's map/ folder lists every image).`) : null,
  ];
  byId('map-outliers').replaceChildren(...parts.filter((e) => e !== null));
}

function clear(message: string): void {
  shown = null;
  byId('map-plot').replaceChildren();
  byId('map-legend').replaceChildren();
  byId('map-outliers').replaceChildren();
  say('map-selection', '');
  say('map-message', message);
  delete byId('map-section').dataset.run;
}

function seed(): string {
  return byId<HTMLInputElement>('map-seed').value.trim();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Fetch the run's map (computing it when it is not on disk, or anew with `refresh`), saying its progress until it is ready. */
async function load(run: string, refresh: boolean): Promise<void> {
  const url = (again: boolean) => `/api/runs/${encodeURIComponent(run)}/map?seed=${encodeURIComponent(seed())}${again ? '&refresh=1' : ''}`;
  let answer = await getJson<MapAnswer>(url(refresh));
  while (answer.status === 'computing') {
    say('map-message', `Computing the map of ${run} (tlkit map, seed ${answer.seed}): ${answer.line}`);
    await sleep(1000);
    if (state.selected !== run) return;
    answer = await getJson<MapAnswer>(url(false));
  }
  if (answer.status === 'ready' && state.selected === run) render(answer);
}

/** A run newly selected: its map when one is on disk, else the button to compute it. */
async function peek(run: string): Promise<void> {
  const answer = await getJson<MapAnswer>(`/api/runs/${encodeURIComponent(run)}/map?peek=1`);
  if (state.selected !== run) return;
  if (answer.status === 'ready') {
    byId<HTMLInputElement>('map-seed').value = String(answer.seed);
    render(answer);
  } else clear(`No map of ${run} yet: "Map the dataset" computes it (a few seconds to minutes: the features of every image).`);
}

export function wireMap(): void {
  const show = byId<HTMLButtonElement>('map-show');
  const refresh = byId<HTMLButtonElement>('map-refresh');
  const needRun = async (f: (run: string) => Promise<void>) => {
    if (!state.selected) throw new Error('Select a run first (in Runs): the map is of its data, through its base.');
    await f(state.selected);
  };
  action(show, 'map-message', () => needRun((run) => load(run, false)));
  action(refresh, 'map-message', () => needRun((run) => load(run, true)));
  byId('map-colour').addEventListener('change', paint);
  // Selecting a run is the Results panel's: its heading names the run selected.
  new MutationObserver(() => {
    const run = state.selected;
    if (run && byId('map-section').dataset.run !== run)
      peek(run).catch((e: unknown) => say('map-message', e instanceof Error ? e.message : String(e), 'error'));
  }).observe(byId('results-run'), { childList: true, characterData: true, subtree: true });
}
