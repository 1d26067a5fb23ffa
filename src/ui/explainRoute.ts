import fs from 'node:fs';
import path from 'node:path';
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { decodeRgb, resizeDecoded } from '../data/decode.js';
import { isUserError, UserError } from '../errors.js';
import { explainFiles, explainPixels, type Explanation } from '../explain/explainImages.js';
import { loadGradCam, type GradCamExplainer } from '../explain/runGradCam.js';
import { readMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { confinedFile, encodeRel } from './security.js';
import type { Trainer } from './trainer.js';

/** The routes that answer with a Grad-CAM overlay (a PNG); everything else under /api/ keeps its small body limit. */
export const EXPLAIN_ROUTE = /^\/api\/runs\/[^/]+\/explain$/;

/** The label a PNG explains, in a header beside it (the body is the image). */
export const EXPLAINED_LABEL_HEADER = 'x-tlkit-explained-label';

export interface ExplainRouteOptions {
  /** A run's folder from its id (a UserError for a name that is not one). */
  runDir: (id: string) => string;
  /** The folder chosen in the page, the data of a run that does not record its own. */
  dataDir: () => string | null;
  trainer: Trainer;
  /** The largest image accepted in a POST. */
  maxImageBytes: number;
  /** How an explainer is loaded (tests count the loads). */
  load?: (runDir: string) => Promise<GradCamExplainer>;
}

/** An error answer: JSON `{ error }` with its status, as the page's other calls get. */
class RouteError extends Error {
  constructor(
    readonly status: 403 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

/**
 * GET /api/runs/:id/explain?file=F (a file of the run's data folder, absolute or relative
 * to it: a top loss) and POST /api/runs/:id/explain (the image's bytes as the body: Try it)
 * answer the Grad-CAM overlay of the run's predicted class (or `?class=NAME`) as a PNG.
 * One explainer is kept (the last run explained) while the server lives: loading one exports
 * the base to ONNX Runtime, too slow to repeat at every click. It is disposed when another
 * run is explained, when its run is written again, and by the returned `dispose` (the server
 * stopping). Requests are answered one at a time, so no explainer is disposed in use.
 */
export function registerExplain(app: Hono, o: ExplainRouteOptions): { dispose: () => Promise<void> } {
  const load = o.load ?? ((dir: string) => loadGradCam(dir));
  let cached: { key: string; explainer: GradCamExplainer } | null = null;
  let queue: Promise<unknown> = Promise.resolve();

  async function drop(): Promise<void> {
    const old = cached;
    cached = null;
    if (old) await old.explainer.dispose();
  }

  async function explainerOf(id: string, dir: string): Promise<GradCamExplainer> {
    // meta.json is rewritten at every checkpoint: its time tells a run written again under the same name
    const key = `${dir}\0${fs.statSync(runPaths(dir).meta).mtimeMs}`;
    if (cached?.key === key) return cached.explainer;
    await drop();
    try {
      cached = { key, explainer: await load(dir) };
    } catch (e) {
      if (isUserError(e)) throw new UserError(`The run ${id} cannot be explained with Grad-CAM: ${(e as Error).message}`);
      throw e;
    }
    return cached.explainer;
  }

  /** The run's folder, checked: it exists and is not training. */
  function checkedRun(id: string): string {
    const dir = o.runDir(id);
    if (!fs.existsSync(runPaths(dir).meta)) throw new RouteError(404, `There is no run named ${id}.`);
    if (o.trainer.running === id) throw new RouteError(409, `The run ${id} is still training. Explain it once it has ended.`);
    return dir;
  }

  function target(explainer: GradCamExplainer, name: string | undefined): number | undefined {
    if (name === undefined || name === '') return undefined;
    const c = explainer.classNames.indexOf(name);
    if (c < 0) throw new UserError(`The run has no class '${name}': its classes are ${explainer.classNames.join(', ')}.`);
    return c;
  }

  /** The file of the run's data folder that `file` names, or a 403/404 RouteError. */
  async function dataFile(dir: string, file: string | undefined): Promise<string> {
    if (file === undefined || file.trim() === '') throw new UserError('Name the image to explain: ?file=<a file of the data folder>.');
    const root = (await readMeta(dir)).data ?? o.dataDir();
    if (!root) throw new UserError('The run does not record its data folder. Choose the data folder first.');
    const rel = path.isAbsolute(file) ? path.relative(path.resolve(root), file) : file;
    const found = confinedFile(root, encodeRel(rel));
    if ('status' in found) {
      throw new RouteError(
        found.status,
        found.status === 403
          ? `${file} is not inside the run's data folder ${root}: only its images are explained.`
          : `No image ${file} in ${root} (${found.why}).`,
      );
    }
    return found.file;
  }

  function png(c: Context, e: Explanation): Response {
    return c.body(new Uint8Array(e.png), 200, {
      'content-type': 'image/png',
      'cache-control': 'no-store',
      [EXPLAINED_LABEL_HEADER]: encodeURIComponent(e.label),
    });
  }

  /** One request at a time; a RouteError answers its status, a UserError 400 (bad input, said as the app says it). */
  async function answer(c: Context, work: () => Promise<Response>): Promise<Response> {
    const turn = queue.then(work);
    queue = turn.catch(() => undefined);
    try {
      return await turn;
    } catch (e) {
      if (e instanceof RouteError) return c.json({ error: e.message }, e.status);
      if (isUserError(e)) return c.json({ error: (e as Error).message }, 400);
      throw e;
    }
  }

  app.get('/api/runs/:id/explain', (c) =>
    answer(c, async () => {
      const id = c.req.param('id');
      const dir = checkedRun(id);
      const file = await dataFile(dir, c.req.query('file'));
      const explainer = await explainerOf(id, dir);
      const [e] = await explainFiles(explainer, [file], { targets: [target(explainer, c.req.query('class'))] });
      return png(c, e);
    }),
  );

  app.post(
    '/api/runs/:id/explain',
    bodyLimit({
      maxSize: o.maxImageBytes,
      onError: (c) =>
        c.json({ error: `The image is over the limit of ${(o.maxImageBytes / 1e6).toFixed(1)} MB. Explain a smaller one.` }, 413),
    }),
    (c) =>
      answer(c, async () => {
        const id = c.req.param('id');
        const dir = checkedRun(id);
        const bytes = new Uint8Array(await c.req.arrayBuffer());
        if (bytes.length === 0) throw new UserError('Send the image to explain as the body of the request.');
        const photo = await decodeRgb('the image sent', bytes);
        const explainer = await explainerOf(id, dir);
        const [h, w] = explainer.imageSize;
        const pixels = new Float32Array(h * w * 3);
        resizeDecoded(photo, [h, w], pixels, 0);
        const [e] = await explainPixels(explainer, pixels, [{ photo, name: 'image' }], {
          targets: [target(explainer, c.req.query('class'))],
        });
        return png(c, e);
      }),
  );

  return {
    dispose: async () => {
      await queue;
      await drop();
    },
  };
}
