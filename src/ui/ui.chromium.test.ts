// `tlkit ui` end to end: the built CLI serves the page, headless Chromium drives it on a
// tiny generated dataset: pick the data, see the counts, train 2 epochs with the curves
// updating, see the confusion matrix, drop an image and get `tlkit predict`'s
// probabilities (1e-4), export; then a second run stopped with the Stop button, and the
// two runs compared. Screenshots go to $TLKIT_UI_SCREENSHOTS (default: a temp folder).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { TrainFormSpec } from './protocol.js';
import { launchChromium, needsChromium } from '../testing/chromium.js';
import { requiring, unmet } from '../testing/requirements.js';
import { waitForOutput } from '../testing/processes.js';
import { tempDir, writeRotatedPhoto } from '../testing/images.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = process.env.TLKIT_UI_SCREENSHOTS ?? path.join(os.tmpdir(), 'tlkit-ui-screenshots');

let root = '';
let data = '';
let base = '';
let server: ChildProcess | undefined;
let url = '';
const env = () => ({ ...process.env, TLKIT_BACKEND: 'cpu', TLKIT_CACHE: path.join(root, 'cache') });

before(async () => {
  if (unmet([needsChromium])) return; // the test itself then skips or, under CI, fails
  root = tempDir();
  data = await makeTinyDataset(path.join(root, 'data'));
  base = await makeTinyBase(path.join(root, 'base'));
  server = spawn(process.execPath, [path.join(repo, 'bin/tlkit.js'), 'ui', '--runs', path.join(root, 'runs'), '--port', '0'], {
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Bounded: a URL that never prints fails the hook (with what the server printed) instead of hanging.
  url = (await waitForOutput(server, /tlkit ui: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/, 60_000))[1];
  fs.mkdirSync(SHOTS, { recursive: true });
});

after(() => {
  server?.kill('SIGINT');
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Records every value the loss chart's data-epochs takes (the curves redrawn at each epoch). */
async function watchCurves(page: Page): Promise<void> {
  await page.evaluate(() => {
    const host = document.getElementById('chart-loss') as HTMLElement;
    const seen: string[] = [];
    (window as unknown as { curveEpochs: string[] }).curveEpochs = seen;
    new MutationObserver(() => {
      const v = host.dataset.epochs ?? '';
      if (seen.at(-1) !== v) seen.push(v);
    }).observe(host, { attributes: true, attributeFilter: ['data-epochs'] });
  });
}

async function fillTrainForm(page: Page, fields: Record<string, string>): Promise<void> {
  for (const [name, value] of Object.entries(fields)) {
    const field = `#train-form [name=${name}]`;
    // Options past the first group are in folded boxes.
    await page.$eval(field, (e) => e.closest('details')?.setAttribute('open', ''));
    await page.fill(field, value);
  }
}

test(
  'tlkit ui: pick data, train 2 epochs with live curves, confusion matrix, drop an image (= tlkit predict to 1e-4), export, stop a run, compare',
  requiring(needsChromium, async () => {
    // Chromium's fake camera (a generated test pattern) for the webcam button.
    const browser = await launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']);
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => {
        // The 400s are the form's deliberate bad values below.
        if (m.type() === 'error' && !/status of 400/.test(m.text())) errors.push(m.text());
      });
      await page.goto(url);
      assert.equal(new URL(page.url()).search, '', 'the token left the address bar');
      await page.waitForSelector('body[data-ready=true]');

      // 1. Data: type the folder, see the counts per split and the problems check-data finds (16 px images are tiny).
      await page.fill('#data-path', data);
      await page.click('#data-open');
      await page.waitForSelector('#counts');
      const counts = await page.$$eval('#counts tr', (rows) => rows.map((r) => Array.from(r.children).map((c) => c.textContent)));
      assert.deepEqual(counts, [
        ['class', 'train', 'validation', 'test'],
        ['cats', '16', '8', '8'],
        ['dogs', '16', '8', '8'],
        ['total', '32', '16', '16'],
      ]);
      // Tiny images are a warning: listed, marked as such, and training stays possible.
      assert.ok((await page.locator('#problems li[data-kind=tiny][data-severity=warning]').count()) > 0);
      assert.match((await page.textContent('#data-message')) ?? '', /0 errors and \d+ warnings? listed below/);
      await page.waitForFunction(() => document.querySelectorAll('#thumbs img').length === 16);
      await page.waitForFunction(
        () =>
          Array.from(document.querySelectorAll<HTMLImageElement>('#thumbs img')).every((img) => img.complete && img.naturalWidth === 16),
        undefined,
        { timeout: 10_000 },
      );

      // The training form is made from the options' declaration: a field for each, on its default; the mode greys out the others' fields.
      const spec = (await page.evaluate(async () => (await fetch('/api/options')).json())) as TrainFormSpec;
      for (const f of spec.fields) {
        const field = page.locator(`#train-form [name=${f.name}]`);
        assert.equal(await field.count(), 1, f.name);
        if (f.input === 'checkbox') assert.equal(await field.isChecked(), f.default === true, f.name);
        else assert.equal(await field.inputValue(), f.input === 'select' && f.default !== undefined ? String(f.default) : '', f.name);
      }
      for (const id of ['precision', 'preprocess', 'upTo', 'augmentFlip', 'earlyStoppingPatience'])
        assert.ok(
          spec.fields.some((f) => f.name === id),
          id,
        );
      assert.equal(await page.locator('#train-form [name=unfreeze]').isDisabled(), true, 'finetune only');
      await page.selectOption('#train-form [name=mode]', 'finetune');
      assert.equal(await page.locator('#train-form [name=unfreeze]').isDisabled(), false);
      assert.equal(await page.locator('#train-form [name=augmentFlip]').isDisabled(), true, 'finetune augments only with augment');
      await page.$eval('#train-form [name=augment]', (e) => e.closest('details')?.setAttribute('open', ''));
      await page.check('#train-form [name=augment]');
      assert.equal(await page.locator('#train-form [name=augmentFlip]').isDisabled(), false);
      await page.uncheck('#train-form [name=augment]');
      await page.selectOption('#train-form [name=mode]', 'features');
      await shot(page, 'form');

      // An ONNX base's option on a tfjs base: train()'s own check, before anything starts.
      await fillTrainForm(page, { base, preprocess: 'torch', run: 'bad' });
      await page.click('#train-start');
      await page.waitForFunction(() =>
        /^"Preprocess" applies to an ONNX base/.test(document.getElementById('train-message')?.textContent ?? ''),
      );
      await fillTrainForm(page, { preprocess: '' });

      // The declaration's validation, before anything starts, naming the field (not a command-line flag).
      await fillTrainForm(page, { base, epochs: '0', run: 'bad' });
      await page.click('#train-start');
      await page.waitForFunction(() =>
        /^"Epochs" must be a whole number >= 1, got '0'/.test(document.getElementById('train-message')?.textContent ?? ''),
      );

      // A base that is not there: train() itself refuses it, and its message comes back as an event.
      await fillTrainForm(page, { base: path.join(root, 'no-such-base'), epochs: '2', run: 'missing-base' });
      await page.click('#train-start');
      await page.waitForFunction(() => /no-such-base/.test(document.getElementById('train-message')?.textContent ?? ''), undefined, {
        timeout: 30_000,
      });
      assert.match((await page.locator('#train-message').getAttribute('class')) ?? '', /error/);
      await page.waitForFunction(() => !(document.getElementById('train-start') as HTMLButtonElement).disabled);

      // 2. Train 2 epochs; the curves are redrawn after each.
      await watchCurves(page);
      await fillTrainForm(page, { base, epochs: '2', batchSize: '8', headUnits: '8', learningRate: '0.01', run: 'tiny' });
      await page.click('#train-start');
      await page.waitForFunction(() => /Best epoch \d/.test(document.getElementById('train-message')?.textContent ?? ''), undefined, {
        timeout: 120_000,
      });
      const seen = await page.evaluate(() => (window as unknown as { curveEpochs: string[] }).curveEpochs);
      assert.deepEqual(seen.slice(0, 3), ['0', '1', '2'], `the curves held 0, then 1, then 2 epochs (saw ${seen.join(', ')})`);
      assert.match((await page.locator('#progress-text').textContent()) ?? '', /Epoch 2\/2, batch 4\/4 - [\d.]+ images\/s - ETA 0:00/);
      const history = JSON.parse(fs.readFileSync(path.join(root, 'runs/tiny/history.json'), 'utf8')) as {
        history: Record<string, number[]>;
      };
      assert.equal(history.history.val_loss.length, 2);

      // 3. Results: the run is evaluated when it ends; the page's matrix is evaluation.json's.
      await page.waitForSelector('#confusion-matrix', { timeout: 60_000 });
      const matrix = await page.$$eval('#confusion-matrix tbody tr', (rows) =>
        rows.map((r) =>
          Array.from(r.children)
            .slice(1)
            .map((c) => Number(c.textContent)),
        ),
      );
      const evaluation = JSON.parse(fs.readFileSync(path.join(root, 'runs/tiny/evaluation.json'), 'utf8')) as {
        confusion: number[][];
        dir: string;
        files: Array<{ label: number; scores: number[] }>;
      };
      assert.deepEqual(matrix, evaluation.confusion);
      assert.equal(
        matrix.flat().reduce((a, b) => a + b, 0),
        16,
        'the 16 test images',
      );
      assert.equal(evaluation.dir, path.join(data, 'test'));
      // Top losses: at most 4 a class, each misclassified or with P(true) below 0.8, with thumbnails.
      const losses = [0, 1].map((c) =>
        evaluation.files.filter((f) => f.label === c && (f.scores[c] < 0.8 || f.scores[1 - c] > f.scores[c])),
      );
      const shown = losses.reduce((n, l) => n + Math.min(4, l.length), 0);
      assert.equal(await page.locator('#top-losses .loss img').count(), shown, 'top losses are losses, with thumbnails');
      if (shown === 0) assert.match((await page.textContent('#top-losses-note')) ?? '', /^None: every image is classified correctly/);
      await shot(page, 'trained');

      // 4. Try it: drop a photo (EXIF-rotated JPEG) on the page: tfjs in the page gives tlkit predict's probabilities.
      const photo = await writeRotatedPhoto(path.join(root, 'phone.jpg'), 120, 80);
      for (const file of [photo, path.join(data, 'test/dogs/dogs.3.png')]) {
        const bytes = Array.from(fs.readFileSync(file));
        const transfer = await page.evaluateHandle(
          ({ bytes, name }) => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], name, { type: name.endsWith('.png') ? 'image/png' : 'image/jpeg' }));
            return dt;
          },
          { bytes, name: path.basename(file) },
        );
        await page.dispatchEvent('#drop', 'drop', { dataTransfer: transfer });
        await page.waitForFunction(() => (document.getElementById('try-result')?.textContent ?? '') !== '', undefined, { timeout: 60_000 });
        const got = JSON.parse((await page.locator('#try-result').textContent()) ?? '{}') as {
          label: string;
          probabilities: Array<{ label: string; probability: number }>;
        };
        const want = spawnSync(
          process.execPath,
          [path.join(repo, 'bin/tlkit.js'), 'predict', '--model', path.join(root, 'runs/tiny'), file, '--json'],
          { encoding: 'utf8', env: env() },
        );
        assert.equal(want.status, 0, want.stderr);
        const expected = JSON.parse(want.stdout) as typeof got;
        assert.equal(got.label, expected.label);
        for (const p of expected.probabilities) {
          const q = got.probabilities.find((x) => x.label === p.label)?.probability ?? NaN;
          assert.ok(Math.abs(q - p.probability) <= 1e-4, `${path.basename(file)} ${p.label}: page ${q}, tlkit predict ${p.probability}`);
        }
        assert.equal(await page.locator('#probability-table tbody tr').count(), 2);
      }
      await shot(page, 'try-it');
      // The webcam: frames of the (fake) camera classified in the page, once a second.
      await page.evaluate(() => {
        (document.getElementById('try-result') as HTMLElement).textContent = '';
      });
      await page.click('#webcam');
      await page.waitForFunction(() => /^webcam: /.test(document.getElementById('try-message')?.textContent ?? ''), undefined, {
        timeout: 30_000,
      });
      const cam = JSON.parse((await page.locator('#try-result').textContent()) ?? '{}') as {
        probabilities: Array<{ probability: number }>;
      };
      assert.equal(cam.probabilities.length, 2);
      assert.ok(Math.abs(cam.probabilities[0].probability + cam.probabilities[1].probability - 1) < 1e-6);
      await page.click('#webcam');
      await page.waitForSelector('#webcam-video[hidden]', { state: 'attached' });

      // 5. Take it away: the ONNX export, listed with links that serve the files.
      await page.click('button.export[data-format=onnx]');
      await page.waitForFunction(
        () => /Exported tiny as onnx/.test(document.getElementById('export-message')?.textContent ?? ''),
        undefined,
        { timeout: 60_000 },
      );
      const links = await page.$$eval('#export-files a', (as) =>
        as.map((a) => ({ text: a.textContent, href: (a as HTMLAnchorElement).href })),
      );
      assert.deepEqual(
        links.map((l) => l.text),
        ['metadata.json', 'model.onnx'],
      );
      const served = await page.evaluate(async (href) => (await fetch(href)).arrayBuffer().then((b) => b.byteLength), links[1].href);
      assert.equal(served, fs.statSync(path.join(root, 'runs/tiny/exports/onnx/model.onnx')).size);

      // Stop: a long run stopped after its first epoch keeps its best checkpoint.
      await fillTrainForm(page, { base, epochs: '200', batchSize: '8', headUnits: '8', learningRate: '0.01', run: 'stopped' });
      await page.click('#train-start');
      // This run's first epoch (the message the epoch event writes; the curves still hold the last run's until its start event).
      await page.waitForFunction(
        () => /^Epoch \d+\/200: val_loss/.test(document.getElementById('train-message')?.textContent ?? ''),
        undefined,
        { timeout: 60_000 },
      );
      await page.click('#train-stop');
      await page.waitForFunction(
        () => /interrupted after \d+ epoch/.test(document.getElementById('train-message')?.textContent ?? ''),
        undefined,
        { timeout: 60_000 },
      );
      const meta = JSON.parse(fs.readFileSync(path.join(root, 'runs/stopped/meta.json'), 'utf8')) as {
        interrupted: boolean;
        epochsDone: number;
        bestEpoch: number;
      };
      assert.equal(meta.interrupted, true);
      assert.ok(meta.epochsDone >= 1 && meta.epochsDone < 200);
      assert.ok(fs.existsSync(path.join(root, 'runs/stopped/model/model.json')), 'the best checkpoint is kept');
      assert.ok(!fs.existsSync(path.join(root, 'runs/stopped/.lock')), 'the run folder was closed');

      // Compare the two runs.
      await page.waitForSelector('#runs-table input.compare[value=stopped]');
      await page.check('#runs-table input.compare[value=tiny]');
      await page.check('#runs-table input.compare[value=stopped]');
      await page.waitForSelector('#compare-chart[data-runs="2"]');
      // Every column of the runs table is inside its section (none cut off), val_loss and val_accuracy included.
      const box = (await page.locator('#runs').boundingBox())!;
      for (const header of ['val_loss', 'val_accuracy']) {
        const cell = (await page.locator('#runs-table th', { hasText: new RegExp(`^${header}$`) }).boundingBox())!;
        assert.ok(
          cell.x >= box.x && cell.x + cell.width <= box.x + box.width,
          `${header} at ${cell.x}+${cell.width}, section ${box.x}+${box.width}`,
        );
      }
      await shot(page, 'compare');
      assert.deepEqual(errors, []);
    } catch (e) {
      for (const page of browser.contexts().flatMap((c) => c.pages())) await shot(page, 'failure').catch(() => {});
      throw e;
    } finally {
      await browser.close();
    }
  }),
);

test(
  'tlkit ui: "Find learning rate" sweeps with the form\'s values on the server, shows the plot and fills the learning-rate field',
  requiring(needsChromium, async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(url);
      await page.waitForSelector('body[data-ready=true]');
      await page.fill('#data-path', data);
      await page.click('#data-open');
      await page.waitForSelector('#counts');
      // Every file of every run folder (the first test's, when it ran), to show that none changes.
      const runs = path.join(root, 'runs');
      const runFiles = () =>
        fs
          .readdirSync(runs, { withFileTypes: true })
          .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
          .flatMap((d) => fs.readdirSync(path.join(runs, d.name), { recursive: true }).map((f) => path.join(d.name, String(f))))
          .filter((f) => fs.statSync(path.join(runs, f)).isFile())
          .sort()
          .map(
            (f) =>
              `${f} ${createHash('sha256')
                .update(fs.readFileSync(path.join(runs, f)))
                .digest('hex')}`,
          );
      const runsBefore = runFiles();
      await fillTrainForm(page, { base, batchSize: '4', headUnits: '4' });
      assert.equal(await page.inputValue('#train-form [name=learningRate]'), '');
      await page.click('#lr-find');
      await page.waitForFunction(
        () => /Suggested learning rates/.test(document.getElementById('train-message')?.textContent ?? ''),
        undefined,
        { timeout: 120_000 },
      );
      // The plot appears: the sweep's PNG, served by the server and loaded by the page.
      await page.waitForFunction(() => {
        const img = document.getElementById('lr-find-plot') as HTMLImageElement;
        return img.complete && img.naturalWidth === 960;
      });
      assert.equal(await page.locator('#lr-find-result').isVisible(), true);
      // The valley is in the learning-rate field, as the message says.
      const value = await page.inputValue('#train-form [name=learningRate]');
      assert.match(value, /^\d\.\de-\d+$/);
      assert.match((await page.textContent('#train-message')) ?? '', new RegExp(`valley ${value.replace('.', '\\.')},`));
      assert.equal(await page.locator('#train-start').isDisabled(), false, 'training can start once the sweep is done');
      // No run was written or changed: the plot lives in the runs folder's own .lr-find/.
      assert.deepEqual(runFiles(), runsBefore);
      assert.ok(fs.existsSync(path.join(runs, '.lr-find', 'lr-find.svg')));
      await shot(page, 'lr-find');
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  }),
);
