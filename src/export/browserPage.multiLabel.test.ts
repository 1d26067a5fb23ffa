// A multi-label run's exported index.html in headless Chromium, offline: every label with its
// probability (tlkit's own to 1e-4) and threshold, those at or above it ticked, and the same
// label set as tlkit's inference gives.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium, needsChromium } from '../testing/chromium.js';
import { requiring } from '../testing/requirements.js';
import { labelsAtThresholds, makeMultiLabelRun, MULTI_LABEL_CLASSES, type MultiLabelRun } from '../testing/multiLabelRun.js';
import { exportRun } from './exportRun.js';

interface PageResult {
  labels: string[];
  probabilities: Array<{ label: string; probability: number; threshold: number; given: boolean }>;
}

let r: MultiLabelRun;

before(async () => {
  r = await makeMultiLabelRun();
});

/** The export folder at http://tlkit.test/, every other request aborted (returned for the test to check). */
async function serveOffline(page: Page, out: string): Promise<string[]> {
  const aborted: string[] = [];
  await page.route('**', (route) => {
    const url = new URL(route.request().url());
    if (url.origin !== 'http://tlkit.test') {
      aborted.push(url.href);
      return route.abort('internetdisconnected');
    }
    const file = path.join(out, url.pathname);
    return fs.existsSync(file) && fs.statSync(file).isFile() ? route.fulfill({ path: file }) : route.fulfill({ status: 404 });
  });
  return aborted;
}

test(
  "export --format tfjs of a multi-label run: index.html shows every label's probability and ticks the same labels as tlkit",
  requiring(needsChromium, async () => {
    const out = path.join(path.dirname(r.run), 'page-multi');
    await exportRun(r.run, { format: 'tfjs', out });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      const aborted = await serveOffline(page, out);
      await page.goto('http://tlkit.test/index.html?backend=cpu');
      await page.waitForFunction(() => /^(Model loaded|Error)/.test(document.getElementById('status')?.textContent ?? ''), undefined, {
        timeout: 60_000,
      });
      assert.match((await page.locator('#status').textContent()) ?? '', /^Model loaded \(cpu\)/);
      assert.equal(await page.locator('h1').textContent(), 'cats, dogs, noisy (multi-label)');
      let worst = 0;
      const seen = new Set<number>();
      for (let i = 0; i < r.files.length; i++) {
        const file = r.files[i];
        await page.evaluate(() => {
          (document.getElementById('result') as HTMLElement).textContent = '';
        });
        await page.setInputFiles('#file', file);
        await page.waitForFunction(() => (document.getElementById('result')?.textContent ?? '') !== '', undefined, { timeout: 60_000 });
        const got = JSON.parse((await page.locator('#result').textContent()) ?? '{}') as PageResult;
        const want = labelsAtThresholds(r.probabilities[i], r.thresholds);
        assert.deepEqual(got.labels, want, path.basename(file));
        seen.add(want.length);
        // every label, most probable first, with its threshold
        assert.deepEqual(got.probabilities.map((p) => p.label).sort(), [...MULTI_LABEL_CLASSES].sort());
        for (const p of got.probabilities) {
          const c = MULTI_LABEL_CLASSES.indexOf(p.label);
          worst = Math.max(worst, Math.abs(p.probability - r.probabilities[i][c]));
          assert.ok(Math.abs(p.probability - r.probabilities[i][c]) <= 1e-4, `${path.basename(file)} ${p.label}: ${p.probability}`);
          assert.equal(p.threshold, r.thresholds[c]);
          assert.equal(p.given, want.includes(p.label));
        }
        // what a person sees: the table's ticked rows and the status line name the same labels
        const ticked = await page.$$eval('#probabilities tr.given td:first-child', (cells) => cells.map((c) => c.textContent ?? ''));
        assert.deepEqual(ticked.sort(), [...want].sort(), path.basename(file));
        assert.equal(await page.locator('#probabilities tr').count(), 3);
        assert.equal(await page.locator('#probabilities .threshold').count(), 3);
        assert.equal(
          await page.locator('#status').textContent(),
          `${path.basename(file)}: ${want.length ? want.join(', ') : 'no label reaches its threshold'}`,
        );
      }
      assert.ok(seen.size > 1, `images with different numbers of labels: ${[...seen]}`);
      if (process.env.TLKIT_TEST_VERBOSE) process.stderr.write(`multi-label page |browser - tlkit| = ${worst.toExponential(2)}\n`);
      assert.deepEqual(errors, []);
      assert.deepEqual(aborted, []);
    } finally {
      await browser.close();
    }
  }),
);
