// The dataset map in headless Chromium, on a tiny generated dataset (reddish "cats", bluish
// "dogs", one reddish image filed under dogs) and a run trained for one epoch: the map has a
// dot an image; hovering a dot shows that image's thumbnail; a click and a lasso send the
// files they pick to the Review panel (the 'tlkit:review' event), the lasso exactly the dots
// inside it; the planted image is listed among the outliers; the same seed gives the same
// coordinates when the map is computed again (another seed does not); the thumbnail route
// serves nothing outside the data folder.
// The page's modules and the CLI the server runs come from dist/ (`npx tsc -p tsconfig.build.json`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { listImageFiles } from '../data/splits.js';
import { launchChromium, needsChromium } from '../testing/chromium.js';
import { tempDir } from '../testing/images.js';
import { requiring, unmet } from '../testing/requirements.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { train } from '../workflows/train.js';
import type { MapAnswer } from './protocol.js';
import { pageDir, startUiServer, type UiServer } from './server.js';

type Ready = Extract<MapAnswer, { status: 'ready' }>;
type Pt = [number, number];

const RUN = 'tiny';
const PLANTED = 'train/dogs/planted-cat.png';
let root = '';
let data = '';
let server: UiServer | undefined;
const needsBuild = {
  missing:
    (!fs.existsSync(path.join(pageDir(), 'mapPanel.js')) || !fs.existsSync(path.join(pageDir(), '../../cli/commands/map.js'))) &&
    `the page's compiled modules (with mapPanel.js) or the compiled CLI are not in ${path.dirname(path.dirname(pageDir()))}`,
  install: 'npx tsc -p tsconfig.build.json',
};

before(async () => {
  if (unmet([needsChromium, needsBuild])) return;
  root = tempDir();
  data = await makeTinyDataset(path.join(root, 'data'), { train: 12, validation: 6, test: 4 });
  fs.copyFileSync(path.join(data, 'test/cats/cats.3.png'), path.join(data, PLANTED));
  fs.writeFileSync(path.join(root, 'outside.png'), fs.readFileSync(path.join(data, PLANTED)));
  // The map is computed by `tlkit map` in a child process, which inherits the cache folder.
  process.env.TLKIT_CACHE = path.join(root, 'cache');
  const runs = path.join(root, 'runs');
  await train(
    {
      data,
      base: await makeTinyBase(path.join(root, 'base')),
      out: path.join(runs, RUN),
      epochs: 1,
      batchSize: 16,
      headUnits: 8,
      verbose: 0,
    },
    { log: () => {} },
  );
  server = await startUiServer({ runs, data });
});

after(async () => {
  await server?.close();
});

/** The map as the server answers it, asking again while it is being computed. */
async function servedMap(page: Page, query: string): Promise<Ready> {
  return page.evaluate(async (q) => {
    let url = `/api/runs/tiny/map${q}`;
    for (let i = 0; i < 600; i++) {
      const answer = (await (await fetch(url)).json()) as { status: string };
      if (answer.status === 'ready') return answer as unknown as Ready;
      if (answer.status !== 'computing') throw new Error(JSON.stringify(answer));
      url = url.replace('&refresh=1', '');
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error('the map took over 150 s');
  }, query);
}

/** Points of the plot (the SVG's units) in the window's coordinates. */
async function toClient(page: Page, pts: Pt[]): Promise<Pt[]> {
  return page.evaluate((ps) => {
    const m = (document.getElementById('map-svg') as unknown as SVGSVGElement).getScreenCTM() as DOMMatrix;
    return ps.map(([x, y]) => {
      const q = new DOMPoint(x, y).matrixTransform(m);
      return [q.x, q.y] as Pt;
    });
  }, pts);
}

/** The test's own even-odd point-in-polygon. */
function inside([x, y]: Pt, poly: Pt[]): boolean {
  let odd = false;
  for (let i = 0; i < poly.length; i++) {
    const [ax, ay] = poly[i];
    const [bx, by] = poly[(i + 1) % poly.length];
    if (ay > y !== by > y && x < ax + ((y - ay) / (by - ay)) * (bx - ax)) odd = !odd;
  }
  return odd;
}

function distanceToEdges([x, y]: Pt, poly: Pt[]): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < poly.length; i++) {
    const [ax, ay] = poly[i];
    const [bx, by] = poly[(i + 1) % poly.length];
    const t = Math.max(0, Math.min(1, ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)));
    best = Math.min(best, Math.hypot(x - ax - t * (bx - ax), y - ay - t * (by - ay)));
  }
  return best;
}

const reviews = (page: Page) => page.evaluate(() => (window as unknown as { reviews: string[][] }).reviews);

test(
  'tlkit ui, map: a dot an image, hover shows its thumbnail, click and lasso send their files to Review, outliers listed, seeded',
  requiring([needsChromium, needsBuild], async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto((server as UiServer).url);
      await page.waitForSelector('body[data-ready=true]');
      await page.evaluate(() => {
        const w = window as unknown as { reviews: string[][] };
        w.reviews = [];
        // Caught before the Review panel gets them (its own test covers what it does), so that the page's layout stays put.
        window.addEventListener(
          'tlkit:review',
          (e) => {
            w.reviews.push((e as CustomEvent<{ files: string[] }>).detail.files);
            e.stopImmediatePropagation();
          },
          { capture: true },
        );
      });
      await page.check(`#runs input[type=radio][value=${RUN}]`);
      await page.waitForFunction(() => /No map of tiny yet/.test(document.getElementById('map-message')?.textContent ?? ''));
      await page.click('#map-show');
      await page.waitForSelector('#map-svg[data-points]', { timeout: 150_000 });

      // A dot an image of the data folder, where the served coordinates put it.
      const files = listImageFiles(data)
        .map((f) => path.relative(data, f))
        .sort();
      const map = await servedMap(page, '');
      assert.deepEqual(map.points.map((p) => p.file).sort(), files);
      assert.equal(await page.locator('#map-svg circle').count(), files.length);
      const { scale, ox, oy } = await page.$eval('#map-svg', (e) => ({
        scale: Number((e as SVGElement).dataset.scale),
        ox: Number((e as SVGElement).dataset.ox),
        oy: Number((e as SVGElement).dataset.oy),
      }));
      const at = new Map(map.points.map((p) => [p.file, [ox + scale * p.x, oy - scale * p.y] as Pt]));
      const drawn = await page.$$eval('#map-svg circle', (cs) =>
        cs.map((c) => [c.getAttribute('data-file'), Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))] as const),
      );
      for (const [file, cx, cy] of drawn) {
        const want = at.get(file as string) as Pt;
        assert.ok(Math.abs(cx - want[0]) < 0.01 && Math.abs(cy - want[1]) < 0.01, `${file} drawn at ${cx},${cy}, served at ${want}`);
      }

      await page.$eval('#map-svg', (e) => e.scrollIntoView({ block: 'center' }));
      // Hover the dot farthest from any other: the thumbnail of that very file.
      const lonely = map.points
        .map((p) => {
          const [x, y] = at.get(p.file) as Pt;
          const gap = Math.min(
            ...map.points.filter((q) => q !== p).map((q) => Math.hypot((at.get(q.file) as Pt)[0] - x, (at.get(q.file) as Pt)[1] - y)),
          );
          return { file: p.file, gap };
        })
        .sort((a, b) => b.gap - a.gap)[0];
      const [hx, hy] = (await toClient(page, [at.get(lonely.file) as Pt]))[0];
      await page.mouse.move(hx, hy);
      await page.waitForFunction(
        (f) => {
          const tip = document.getElementById('map-tip') as HTMLElement;
          const img = document.getElementById('map-tip-img') as HTMLImageElement;
          return !tip.hidden && img.alt === f && img.complete && img.naturalWidth > 0;
        },
        lonely.file,
        { timeout: 30_000 },
      );
      assert.equal(await page.textContent('#map-tip-file'), lonely.file);
      assert.match((await page.getAttribute('#map-tip-img', 'src')) ?? '', /\/api\/runs\/tiny\/thumbnail\?file=/);

      // A click on it: Review gets that file.
      await page.mouse.click(hx, hy);
      assert.deepEqual((await reviews(page)).at(-1), [lonely.file]);

      // A lasso (a hexagon around the cats' dots, drawn as a mouse drag): exactly the dots inside, by the served coordinates.
      const xs = [...at.values()].map((p) => p[0]);
      const ys = [...at.values()].map((p) => p[1]);
      const cats = map.points.filter((p) => p.label === 'cats').map((p) => at.get(p.file) as Pt);
      const [mx, my] = [cats.reduce((a, p) => a + p[0], 0) / cats.length, cats.reduce((a, p) => a + p[1], 0) / cats.length];
      let hexagon: Pt[] = [];
      let expected: string[] = [];
      for (const r of [0.1, 0.12, 0.14, 0.16, 0.08, 0.18, 0.2, 0.06]) {
        const rx = r * (Math.max(...xs) - Math.min(...xs));
        const ry = r * (Math.max(...ys) - Math.min(...ys));
        hexagon = [0, 1, 2, 3, 4, 5].map((k) => [
          Math.round(mx + rx * Math.cos((k * Math.PI) / 3 + 0.3)),
          Math.round(my + ry * Math.sin((k * Math.PI) / 3 + 0.3)),
        ]);
        expected = map.points.filter((p) => inside(at.get(p.file) as Pt, hexagon)).map((p) => p.file);
        // Some dots in, some out, and none on the line (the drag's rounding cannot move one across it).
        if (expected.length > 1 && expected.length < cats.length && [...at.values()].every((p) => distanceToEdges(p, hexagon) > 1.5)) break;
      }
      assert.ok(expected.length > 1 && expected.length < files.length, `the lasso holds ${expected.length} of ${files.length} dots`);
      const corners = await toClient(page, hexagon);
      await page.mouse.move(...corners[0]);
      await page.mouse.down();
      for (const c of [...corners.slice(1), corners[0]]) await page.mouse.move(c[0], c[1], { steps: 6 });
      await page.mouse.up();
      assert.deepEqual([...(await reviews(page)).at(-1)!].sort(), expected.sort());
      assert.equal(await page.locator('#map-svg circle.selected').count(), expected.length);
      assert.match((await page.textContent('#map-selection')) ?? '', new RegExp(`^${expected.length} images? selected`));

      // The reddish image filed under dogs is an outlier, listed under the map; a click sends it to Review.
      const planted = map.points.find((p) => p.file === PLANTED);
      assert.equal(planted?.outlier, true, `the planted image's score is ${planted?.score}`);
      assert.equal(planted?.looksLike, 'cats');
      assert.equal(map.points[map.outliers[0]].score, Math.max(...map.points.map((p) => p.score)));
      await page.click(`#map-outliers .outlier-item[data-file="${PLANTED}"]`);
      assert.deepEqual((await reviews(page)).at(-1), [PLANTED]);
      assert.equal(await page.locator('#map-outliers .outlier-item').count(), map.outliers.length);

      // Coloured by split: the legend names the splits.
      await page.selectOption('#map-colour', 'split');
      assert.match((await page.textContent('#map-legend')) ?? '', /train \(25\).*validation \(12\).*test \(8\)/);

      // Computed again: the same seed gives the same coordinates, another seed others.
      const again = await servedMap(page, `?seed=${map.seed}&refresh=1`);
      assert.deepEqual(
        again.points.map((p) => [p.file, p.x, p.y]),
        map.points.map((p) => [p.file, p.x, p.y]),
      );
      const other = await servedMap(page, '?seed=7&refresh=1');
      assert.equal(other.seed, 7);
      assert.notDeepEqual(
        other.points.map((p) => [p.x, p.y]),
        map.points.map((p) => [p.x, p.y]),
      );

      // Thumbnails: only files of the run's data folder.
      const status = (file: string) =>
        page.evaluate(async (f) => (await fetch(`/api/runs/tiny/thumbnail?file=${encodeURIComponent(f)}`)).status, file);
      assert.equal(await status(PLANTED), 200);
      assert.equal(await status('../outside.png'), 403);
      assert.equal(await status(path.join(root, 'outside.png')), 403);
      assert.equal(await status('train/cats/none.png'), 404);
      assert.deepEqual(errors, []);
      if (process.env.TLKIT_UI_SCREENSHOTS)
        await page.locator('#map-section').screenshot({ path: path.join(process.env.TLKIT_UI_SCREENSHOTS, 'map-tiny.png') });
    } finally {
      await browser.close();
    }
  }),
);
