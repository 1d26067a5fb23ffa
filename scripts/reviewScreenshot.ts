// The screenshot of the UI's Review panel in docs/images/review-panel.png: real photos (the
// shared cats and dogs, 20 + 20 training and 10 + 10 validation images) with a dog photo filed
// under validation/cats/, a brief features run of the shared MobileNet, the queue built, and one
// image marked checked (so that the journal shows an entry with its Undo button).
//   node --import tsx scripts/reviewScreenshot.ts [--root DIR] [--out FILE]
// Needs dist/ (npx tsc -p tsconfig.build.json: the page's modules).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { launchChromium } from '../src/testing/chromium.js';
import { BRIEF_RUN, plantedPhotos } from '../src/testing/plantedPhotos.js';
import type { ReviewView } from '../src/ui/protocol.js';
import { startUiServer } from '../src/ui/server.js';
import { train } from '../src/workflows/train.js';

const RUN = 'brief';
const { values } = parseArgs({
  options: {
    root: { type: 'string', default: '/tmp/tlkit-review-screenshot' },
    out: { type: 'string', default: 'docs/images/review-panel.png' },
  },
});
const root = values.root as string;
fs.rmSync(root, { recursive: true, force: true });
const { data, planted } = plantedPhotos(path.join(root, 'data'), { train: 20, validation: 10 });
const runs = path.join(root, 'runs');
await train({ ...BRIEF_RUN, data, cacheDir: path.join(root, 'cache'), out: path.join(runs, RUN) }, { log: () => {} });
const server = await startUiServer({ runs, data });
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1000 }, deviceScaleFactor: 1 });
  page.on('pageerror', (e) => console.error(`page error: ${e}`));
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready=true]');
  await page.check(`#runs input[type=radio][value=${RUN}]`);
  await page.click('#review-load');
  await page.waitForSelector(`.review-item[data-file="${planted}"]`, { timeout: 300_000 });
  const view = (await page.evaluate(async (run) => (await fetch(`/api/runs/${run}/review`)).json(), RUN)) as ReviewView;
  // The last image of the queue looked at and found right; the planted dog stays first for the reader to see.
  const checked = view.items.at(-1)?.file as string;
  await page.locator(`.review-item[data-file="${checked}"] button`, { hasText: 'Checked' }).click();
  await page.waitForFunction((f) => !document.querySelector(`.review-item[data-file="${f}"]`), checked);
  await page.waitForFunction(() =>
    Array.from(document.querySelectorAll<HTMLImageElement>('.review-item img')).every((i) => i.complete && i.naturalWidth > 0),
  );
  fs.mkdirSync(path.dirname(values.out as string), { recursive: true });
  // A palette PNG: a third of the bytes, no difference a reader sees.
  const shot = await page.locator('#review').screenshot();
  await sharp(shot)
    .png({ palette: true, quality: 90, effort: 8 })
    .toFile(values.out as string);
  console.log(`wrote ${values.out}: ${view.items.length} images in the queue, ${planted} first among the cats; ${checked} marked checked`);
} finally {
  await browser.close();
  await server.close();
}
