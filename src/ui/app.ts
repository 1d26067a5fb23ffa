import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { isUserError, UserError } from '../errors.js';
import { isOnnxBasePath } from '../ort/onnxBase.js';
import { checkDataset } from '../data/checkData.js';
import { listImageFiles, resolveDataDir } from '../data/splits.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { readMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { readHistory } from '../run/runDir.js';
import { describeTrainResult, TRAIN_DEFAULTS, validateTrainOptions, withTrainDefaults } from '../workflows/options.js';
import { EXPLAIN_ROUTE, registerExplain } from './explainRoute.js';
import { registerKnnPredict } from './knnRoute.js';
import { registerLrFind } from './lrFindRoute.js';
import { registerMap } from './mapRoute.js';
import { pageHtml } from './pageHtml.js';
import { registerReview } from './reviewRoute.js';
import { registerRunActions } from './runActionsRoute.js';
import type { DataState, DataSummary, FileLink, ImagePage, RunSummary, TrainEvent, TrainRequest } from './protocol.js';
import { confinedFile, encodeRel, guard } from './security.js';
import { Trainer } from './trainer.js';
import { trainFormSpec, trainOptionsFromForm } from './trainForm.js';
import { checkClassName, checkSplit, saveUpload, type UploadLimits } from './uploads.js';
import { vendorFiles } from './vendor.js';

export interface UiAppOptions {
  /** Where runs are written and listed (one folder each). */
  runs: string;
  data?: string;
  token: string;
  /** The port listened on (known once listening). */
  port: () => number;
  uploadLimits: UploadLimits;
  /** The compiled page modules (dist/ui/page). */
  pageDir: string;
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** What a labels table may be called: CSV, TSV or JSON lines. */
const TABLE_FILE = /\.(csv|tsv|tab|jsonl|ndjson|json)$/i;
const RECENT_FILE = '.tlkit-ui-recent.json';
const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.csv': 'text/csv; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

async function serveFile(c: Context, file: string, extraHeaders: Record<string, string> = {}): Promise<Response> {
  const type = TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  return c.body(new Uint8Array(await fsp.readFile(file)), 200, { 'content-type': type, 'cache-control': 'no-store', ...extraHeaders });
}

/** The part of the request's raw (still percent-encoded) path after `prefix`. */
function rawRest(c: Context, prefix: string): string {
  return new URL(c.req.url).pathname.slice(prefix.length);
}

/** A file under a served folder, or the refusal's status (403/404). */
async function serveConfined(c: Context, root: string | null, prefix: string, headers: Record<string, string> = {}): Promise<Response> {
  if (!root) return c.text('Not found: no folder chosen.\n', 404);
  const found = confinedFile(root, rawRest(c, prefix));
  if ('status' in found) return c.text(`${found.status === 403 ? 'Forbidden' : 'Not found'}: ${found.why}.\n`, found.status);
  return serveFile(c, found.file, headers);
}

function blankToUndefined(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/**
 * The routes of `tlkit ui`: the page and its modules, the JSON API (/api/...), the
 * training's Server-Sent Events, and the files of the chosen data folder and of the runs
 * (/files/data/..., /files/runs/<run>/...), all behind the guard of ./security.ts.
 */
export function createUiApp(o: UiAppOptions): {
  app: Hono;
  trainer: Trainer;
  chooseData: (dir: string) => Promise<DataState>;
  /** Let go of what the routes hold (the Grad-CAM explainer, a map being computed). */
  close: () => Promise<void>;
} {
  const app = new Hono();
  const trainer = new Trainer();
  const runsDir = path.resolve(o.runs);
  let dataDir: string | null = null;
  let dataState: DataState = { dir: null, summary: null, recent: readRecent() };

  function readRecent(): string[] {
    try {
      const list = JSON.parse(fs.readFileSync(path.join(runsDir, RECENT_FILE), 'utf8')) as unknown;
      return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string').slice(0, 10) : [];
    } catch {
      return [];
    }
  }

  async function remember(dir: string): Promise<string[]> {
    const recent = [dir, ...readRecent().filter((d) => d !== dir)].slice(0, 10);
    await writeFileAtomic(path.join(runsDir, RECENT_FILE), `${JSON.stringify(recent, null, 2)}\n`);
    return recent;
  }

  const dataUrl = (rel: string) => `/files/data/${encodeRel(rel)}`;

  async function summarize(dir: string): Promise<DataState> {
    const report = await checkDataset(dir);
    const summary: DataSummary = {
      dir,
      layout: report.layout,
      classNames: report.classNames,
      splits: report.splits.map((s) => ({ split: s.split, counts: s.counts, total: s.total })),
      problems: report.problems.map((p) => ({
        kind: p.kind,
        severity: p.severity,
        message: p.message,
        files: p.files.map((rel): FileLink => ({ rel, url: dataUrl(rel) })),
      })),
      ok: report.ok,
    };
    let error: string | undefined;
    try {
      resolveDataDir(dir);
    } catch (e) {
      if (!isUserError(e)) throw e;
      error = (e as Error).message;
    }
    // A flat folder with a labels table (Kaggle's train.csv, a tagging dataset's labels.csv): the form can train from it.
    const tables = fs
      .readdirSync(dir)
      .filter((f) => TABLE_FILE.test(f) && fs.statSync(path.join(dir, f)).isFile())
      .sort();
    return { dir, summary, error, ...(tables.length ? { tables } : {}), recent: readRecent() };
  }

  async function chooseData(dir: string, create: boolean): Promise<DataState> {
    const abs = path.resolve(dir);
    if (create) await fsp.mkdir(abs, { recursive: true });
    if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) {
      throw new UserError(
        `The data folder ${dir} does not exist or is not a folder. Type the path of a folder of class folders (or with train/ and validation/), or tick "create" to start an empty one and upload images into it.`,
      );
    }
    dataDir = abs;
    await remember(abs);
    dataState = await summarize(abs);
    return dataState;
  }

  function runDir(id: string): string {
    if (!RUN_ID.test(id)) throw new UserError(`'${id}' is not a run name: use letters, digits, '.', '-' or '_' (at most 64).`);
    return path.join(runsDir, id);
  }

  function notTraining(id: string): void {
    if (trainer.running === id) throw new UserError(`The run ${id} is still training. Stop it, or wait for it to end.`);
  }

  async function runSummary(id: string): Promise<RunSummary | undefined> {
    const dir = path.join(runsDir, id);
    if (!fs.existsSync(runPaths(dir).meta)) return undefined;
    const meta = await readMeta(dir);
    const history = (await readHistory(dir)) ?? { epoch: [], history: {} };
    const at = history.epoch.indexOf(meta.bestEpoch);
    // A kNN run trains no epoch: its validation accuracy is the one measured when it was built.
    const acc = at >= 0 ? history.history.val_accuracy?.[at] : meta.knn?.validation?.accuracy;
    const map = at >= 0 ? history.history.val_map?.[at] : undefined;
    const clean = Object.fromEntries(Object.entries(history.history).map(([k, v]) => [k, v.map((x) => (Number.isFinite(x) ? x : null))]));
    return {
      id,
      mode: meta.mode,
      base: meta.base,
      classes: meta.classes,
      epochsDone: meta.epochsDone,
      bestEpoch: meta.bestEpoch + 1,
      bestValLoss: meta.bestValLoss,
      bestValAccuracy: acc !== undefined && Number.isFinite(acc) ? acc : null,
      bestValMap: map !== undefined && Number.isFinite(map) ? map : null,
      labelMode: meta.labelMode,
      finished: meta.finished,
      interrupted: Boolean(meta.interrupted),
      training: trainer.running === id,
      createdAt: meta.createdAt,
      history: { epoch: history.epoch, history: clean },
    };
  }

  /** The URL of an image under the chosen data folder (its thumbnail), else null. */
  const imageUrl = (f: string) =>
    dataDir && path.resolve(f).startsWith(dataDir + path.sep) ? dataUrl(path.relative(dataDir, path.resolve(f))) : null;

  app.use('*', guard(o.token, o.port));
  app.onError((e, c) => {
    if (isUserError(e)) return c.json({ error: (e as Error).message }, 400);
    return c.json({ error: `internal error: ${(e as Error).message ?? String(e)}` }, 500);
  });

  // The page, its compiled modules, and the libraries it loads.
  app.get('/', (c) => c.html(pageHtml()));
  app.get('/page/*', (c) => serveConfined(c, o.pageDir, '/page/'));
  const vendor = vendorFiles();
  app.get('/vendor/:name', (c) => {
    const file = vendor[c.req.param('name')];
    return file ? serveFile(c, file) : c.text('Not found.\n', 404);
  });

  // Files of the chosen data folder and of the runs. sandbox: an HTML file among them runs in no origin of ours.
  const fileHeaders = { 'content-security-policy': 'sandbox' };
  app.get('/files/data/*', (c) => serveConfined(c, dataDir, '/files/data/', fileHeaders));
  app.get('/files/runs/*', (c) => serveConfined(c, runsDir, '/files/runs/', fileHeaders));

  // Uploads and images to explain have their own, larger limits.
  const ownLimit = (p: string) => p === '/api/upload' || EXPLAIN_ROUTE.test(p);
  app.use('/api/*', async (c, next) => (ownLimit(c.req.path) ? next() : bodyLimit({ maxSize: 64 * 1024 })(c, next)));

  const formSpec = trainFormSpec();
  app.get('/api/options', (c) => c.json(formSpec));

  app.get('/api/data', (c) => c.json({ ...dataState, recent: readRecent() }));
  app.post('/api/data', async (c) => {
    const body = (await c.req.json()) as { path?: unknown; create?: unknown };
    if (typeof body.path !== 'string' || body.path.trim() === '') throw new UserError('Type the path of a data folder.');
    return c.json(await chooseData(body.path.trim(), body.create === true));
  });

  app.get('/api/data/images', (c) => {
    if (!dataDir) throw new UserError('Choose a data folder first.');
    const split = checkSplit(c.req.query('split') ?? '');
    const cls = checkClassName(c.req.query('class') ?? '');
    const offset = Math.max(0, Number.parseInt(c.req.query('offset') ?? '0', 10) || 0);
    const limit = Math.min(200, Math.max(1, Number.parseInt(c.req.query('limit') ?? '24', 10) || 24));
    const dir = path.join(dataDir, split, cls);
    const all = fs.existsSync(dir) ? listImageFiles(dir) : [];
    const page: ImagePage = {
      total: all.length,
      offset,
      files: all.slice(offset, offset + limit).map((f) => {
        const rel = path.relative(dataDir as string, f);
        return { rel, url: dataUrl(rel) };
      }),
    };
    return c.json(page);
  });

  app.post(
    '/api/upload',
    bodyLimit({
      maxSize: o.uploadLimits.requestBytes,
      onError: (c) =>
        c.json(
          {
            error: `The upload is over the limit of ${(o.uploadLimits.requestBytes / 1e6).toFixed(1)} MB a request. Upload fewer images at once.`,
          },
          413,
        ),
    }),
    async (c) => {
      if (!dataDir) throw new UserError('Choose (or create) a data folder first.');
      const form = await c.req.parseBody({ all: true });
      const cls = checkClassName(String(form.class ?? ''));
      const split = checkSplit(String(form.split ?? ''));
      const files = ([] as unknown[]).concat(form.files ?? []).filter((f): f is File => f instanceof File);
      if (files.length === 0) throw new UserError('Choose one or more image files to upload.');
      const classDir = path.join(dataDir, split, cls);
      const saved: string[] = [];
      for (const f of files) {
        if (f.size > o.uploadLimits.fileBytes) {
          throw new UserError(
            `${f.name} is ${(f.size / 1e6).toFixed(1)} MB, over the upload limit of ${(o.uploadLimits.fileBytes / 1e6).toFixed(1)} MB. Resize it or copy it into the folder yourself.`,
          );
        }
        saved.push(await saveUpload(classDir, f.name, new Uint8Array(await f.arrayBuffer()), o.uploadLimits));
      }
      dataState = await summarize(dataDir);
      return c.json({ saved, data: dataState });
    },
  );

  app.post('/api/train', async (c) => {
    if (!dataDir) throw new UserError('Choose a data folder first.');
    const r = (await c.req.json()) as TrainRequest;
    // The declaration's parsing and checks, naming the form's fields ("Epochs" must be ...), before anything starts.
    const given = trainOptionsFromForm(r.options ?? {});
    const mode = given.mode ?? TRAIN_DEFAULTS.mode;
    const id = blankToUndefined(r.run) ?? `${mode}-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
    const out = runDir(id);
    if (fs.existsSync(out)) throw new UserError(`A run named ${id} exists already (${out}). Choose another name.`);
    const options = { ...given, data: dataDir, out, verbose: 0 as const };
    validateTrainOptions(withTrainDefaults(options), 'form');
    void trainer.start(id, options, (result) =>
      describeTrainResult(result, out, isOnnxBasePath(options.base) ? options.base : undefined, 'form'),
    );
    return c.json({ run: id });
  });

  app.post('/api/train/stop', (c) => c.json({ stopping: trainer.stop() }));
  registerLrFind(app, { runsDir, dataDir: () => dataDir, trainer });
  const explain = registerExplain(app, { runDir, dataDir: () => dataDir, trainer, maxImageBytes: o.uploadLimits.fileBytes });
  const knnPredict = registerKnnPredict(app, { runDir, maxImageBytes: o.uploadLimits.fileBytes });
  const datasetMap = registerMap(app, { runDir, dataDir: () => dataDir, trainer });
  registerReview(app, { runDir, dataDir: () => dataDir, trainer });

  app.get('/api/events', (c) =>
    streamSSE(c, async (stream) => {
      const queue: TrainEvent[] = [];
      let wake: (() => void) | undefined;
      let open = true;
      const unsubscribe = trainer.subscribe((e) => {
        // A slow reader gets the latest batch event only, never a backlog of them.
        if (e.type === 'batch' && queue.at(-1)?.type === 'batch') queue[queue.length - 1] = e;
        else queue.push(e);
        wake?.();
      });
      stream.onAbort(() => {
        open = false;
        wake?.();
      });
      try {
        while (open) {
          while (queue.length > 0) {
            const e = queue.shift() as TrainEvent;
            await stream.writeSSE({ event: e.type, data: JSON.stringify(e) });
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, 15_000);
          });
          wake = undefined;
          if (open && queue.length === 0) await stream.write(': keep-alive\n\n');
        }
      } finally {
        unsubscribe();
      }
    }),
  );

  app.get('/api/runs', async (c) => {
    const ids = fs.existsSync(runsDir)
      ? (await fsp.readdir(runsDir, { withFileTypes: true })).filter((d) => d.isDirectory() && RUN_ID.test(d.name)).map((d) => d.name)
      : [];
    const runs = (await Promise.all(ids.map((id) => runSummary(id).catch(() => undefined)))).filter(
      (r): r is RunSummary => r !== undefined,
    );
    runs.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return c.json(runs);
  });

  registerRunActions(app, { runDir, dataDir: () => dataDir, notTraining, imageUrl });

  return {
    app,
    trainer,
    chooseData: (dir) => chooseData(dir, false),
    close: () => datasetMap.dispose().then(explain.dispose).then(knnPredict.dispose),
  };
}
