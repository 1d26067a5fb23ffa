// The screenshot of the UI's dataset map in docs/images/dataset-map-ui.png: the shared
// cats-vs-dogs photos (every split, 4,000 images) through the shared MobileNet, a lasso drawn
// around the top outlier's neighbourhood, and the pointer on that outlier (its photo in the
// hover card). A features run of one epoch gives the UI a run to map; the features come from
// the default cache when a run or `tlkit map` extracted them before.
//   node --import tsx scripts/mapScreenshot.ts [--runs DIR] [--out FILE]
// Needs dist/ (npx tsc -p tsconfig.build.json: the page's modules and the CLI the server runs).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium } from '../src/testing/chromium.js';
import { SHARED_CATS_DOGS, SHARED_MOBILENET } from '../src/testing/catsDogsSubset.js';
import type { MapAnswer } from '../src/ui/protocol.js';
import { startUiServer } from '../src/ui/server.js';
import { train } from '../src/workflows/train.js';

type Pt = [number, number];
const RUN = 'cats-vs-dogs';
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '/tmp/tlkit-map-screenshot' },
    out: { type: 'string', default: 'docs/images/dataset-map-ui.png' },
  },
});
const runs = values.runs as string;
const t0 = performance.now();
const seconds = () => ((performance.now() - t0) / 1000).toFixed(0);

if (!fs.existsSync(path.join(runs, RUN, 'meta.json'))) {
  await train(
    { data: SHARED_CATS_DOGS, base: SHARED_MOBILENET, out: path.join(runs, RUN), epochs: 1, batchSize: 32, verbose: 1 },
    { log: (line) => console.log(line) },
  );
}
const server = await startUiServer({ runs, data: SHARED_CATS_DOGS });
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1400 }, deviceScaleFactor: 1.5 });
  page.on('pageerror', (e) => console.error(`page error: ${e}`));
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready=true]');
  await page.check(`#runs input[type=radio][value=${RUN}]`);
  await page.click('#map-show');
  let last = '';
  for (;;) {
    if (await page.$('#map-svg[data-points]')) break;
    const line = (await page.textContent('#map-message')) ?? '';
    if (line !== last) console.log(`${seconds()} s: ${(last = line)}`);
    if (/could not|error/i.test(line)) throw new Error(line);
    await page.waitForTimeout(2000);
  }
  console.log(`${seconds()} s: ${await page.textContent('#map-message')}`);
  const map = (await page.evaluate(async (run) => (await fetch(`/api/runs/${run}/map`)).json(), RUN)) as Extract<
    MapAnswer,
    { status: 'ready' }
  >;
  await page.$eval('#map-section', (e) => e.scrollIntoView({ block: 'start' }));
  await page.waitForTimeout(300);
  const { scale, ox, oy } = await page.$eval('#map-svg', (e) => ({
    scale: Number((e as SVGElement).dataset.scale),
    ox: Number((e as SVGElement).dataset.ox),
    oy: Number((e as SVGElement).dataset.oy),
  }));
  const toClient = (pts: Pt[]) =>
    page.evaluate((ps) => {
      const m = (document.getElementById('map-svg') as unknown as SVGSVGElement).getScreenCTM() as DOMMatrix;
      return ps.map(([x, y]) => {
        const q = new DOMPoint(x, y).matrixTransform(m);
        return [q.x, q.y] as Pt;
      });
    }, pts);
  const top = map.points[map.outliers[0]];
  const centre: Pt = [ox + scale * top.x, oy - scale * top.y];
  // A free-hand-looking loop around the outlier's neighbourhood.
  const loop: Pt[] = Array.from({ length: 24 }, (_, k) => {
    const a = (k / 24) * 2 * Math.PI;
    const r = 42 + 9 * Math.sin(3 * a) + 5 * Math.cos(5 * a);
    return [centre[0] + r * Math.cos(a), centre[1] + 0.8 * r * Math.sin(a)];
  });
  const corners = await toClient(loop);
  await page.mouse.move(...corners[0]);
  await page.mouse.down();
  for (const c of [...corners.slice(1), corners[0]]) await page.mouse.move(c[0], c[1], { steps: 3 });
  await page.mouse.up();
  // The Review panel fills with the lasso's photos and the page grows: bring the map back into view, then hover.
  await page.waitForTimeout(3000);
  await page.$eval('#map-section', (e) => e.scrollIntoView({ block: 'start' }));
  await page.waitForTimeout(500);
  const [hx, hy] = (await toClient([centre]))[0];
  await page.mouse.move(hx + 1, hy + 1);
  await page.mouse.move(hx, hy);
  await page.waitForFunction(() => {
    const img = document.getElementById('map-tip-img') as HTMLImageElement;
    return !(document.getElementById('map-tip') as HTMLElement).hidden && img.complete && img.naturalWidth > 0;
  });
  console.log(`hovered ${await page.textContent('#map-tip-file')} (${await page.textContent('#map-tip-what')})`);
  console.log(`lasso: ${await page.textContent('#map-selection')}`);
  fs.mkdirSync(path.dirname(values.out as string), { recursive: true });
  // The map and the first two rows of outliers, taken as the page stands (an element screenshot could scroll and move the hover card away).
  const section = (await page.locator('#map-section').boundingBox()) as { x: number; y: number; width: number; height: number };
  const items = await page.$$eval('#map-outliers .outlier-item', (es) =>
    es.map((e) => e.getBoundingClientRect()).map((r) => [r.top, r.bottom]),
  );
  const rows = [...new Set(items.map(([t]) => t))].sort((a, b) => a - b);
  const bottom = rows.length > 1 ? Math.max(...items.filter(([t]) => t <= rows[1]).map(([, b]) => b)) + 8 : section.y + section.height;
  await page.screenshot({ path: values.out as string, clip: { ...section, height: Math.min(section.height, bottom - section.y) } });
  console.log(`${seconds()} s: wrote ${values.out}`);
} finally {
  await browser.close();
  await server.close();
}
