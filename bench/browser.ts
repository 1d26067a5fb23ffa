/**
 * Browser parity of `tlkit export --format tfjs` on a real run: the export
 * folder's index.html in headless Chromium (offline: the TensorFlow.js the export carries,
 * cpu backend) classifies real JPEGs; the largest probability difference against
 * `tlkit predict` (the Classifier, ONNX Runtime, same decoding) is printed.
 *
 *   node --import tsx bench/browser.ts --run RUN [--data DIR] [--n 10]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { exportRun } from '../src/export/exportRun.js';
import { loadClassifier } from '../src/inference/classifier.js';
import { evaluationFiles } from '../src/inference/predictor.js';
import { stringArg, SHARED_DATA } from './args.js';

const run = stringArg('--run');
if (!run) throw new Error('usage: bench/browser.ts --run RUN [--data DIR] [--n 10]');
const data = stringArg('--data', SHARED_DATA);
const n = Number(stringArg('--n', '10'));

const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-browser-')), 'web');
await exportRun(run, { format: 'tfjs', out });
const clf = await loadClassifier(run);
const { files } = evaluationFiles(data, clf.classNames);
const picked = files.filter((_, i) => i % Math.max(1, Math.floor(files.length / n)) === 0).slice(0, n);
const expected = await clf.predict(picked);
await clf.dispose();

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
let worst = 0;
try {
  const page = await browser.newPage();
  // no network: the export's own files only
  await page.route('**', (r) =>
    r.request().url().startsWith('http://tlkit.test/')
      ? r.fulfill({ path: path.join(out, new URL(r.request().url()).pathname) })
      : r.abort('internetdisconnected'),
  );
  await page.goto('http://tlkit.test/index.html?backend=cpu');
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Model loaded'), undefined, {
    timeout: 120_000,
  });
  for (let i = 0; i < picked.length; i++) {
    await page.evaluate(() => {
      (document.getElementById('result') as HTMLElement).textContent = '';
    });
    await page.setInputFiles('#file', picked[i]);
    await page.waitForFunction(() => (document.getElementById('result')?.textContent ?? '') !== '', undefined, { timeout: 120_000 });
    const got = JSON.parse((await page.locator('#result').textContent()) ?? '{}') as {
      probabilities: Array<{ label: string; probability: number }>;
    };
    for (const p of expected[i].probabilities) {
      const d = Math.abs((got.probabilities.find((q) => q.label === p.label)?.probability ?? NaN) - p.probability);
      worst = Math.max(worst, d);
    }
  }
} finally {
  await browser.close();
}
console.log(`${picked.length} JPEGs from ${data}: max |P(browser index.html) - P(tlkit predict)| = ${worst.toExponential(2)}`);
