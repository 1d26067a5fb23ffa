import fs from 'node:fs';
import path from 'node:path';
import type { Context, Hono } from 'hono';
import { isUserError, UserError } from '../errors.js';
import { ReviewStore } from '../review/actions.js';
import { journalPath, journalRel } from '../review/journal.js';
import { reviewQueue, type QueueItem } from '../review/queue.js';
import { runTable } from '../review/scores.js';
import { readMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import type { ReviewActionRequest, ReviewEntryView, ReviewItemView, ReviewView } from './protocol.js';
import { confinedFile, encodeRel } from './security.js';
import type { Trainer } from './trainer.js';

export interface ReviewRouteOptions {
  /** A run's folder from its id (a UserError for a name that is not one). */
  runDir: (id: string) => string;
  /** The folder chosen in the page: the data of a run that does not record its own. */
  dataDir: () => string | null;
  trainer: Trainer;
}

/** A refusal with its status: 403 for a path outside the data folder, 404 for no such run or file, 409 while training. */
class RouteError extends Error {
  constructor(
    readonly status: 403 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

/** Done actions shown under the queue, newest first. */
const JOURNAL_SHOWN = 30;

/**
 * The Review panel's routes: the queue of a run over its data folder (GET
 * /api/runs/:id/review), the images of a list of files (POST .../review/files: what another
 * panel asked to review), an action on one (POST .../review/action), an undo (POST
 * .../review/undo), and the images themselves (GET .../review/image/<path>). Every path is
 * confined to the run's data folder: a `..`, an absolute path outside it, or a symlink
 * leading out is refused (403). One request at a time; no action while a run trains (it
 * reads the data folder).
 */
export function registerReview(app: Hono, o: ReviewRouteOptions): void {
  let queue: Promise<unknown> = Promise.resolve();

  async function answer(c: Context, work: () => Promise<unknown>): Promise<Response> {
    const turn = queue.then(work);
    queue = turn.catch(() => undefined);
    try {
      return c.json(await turn);
    } catch (e) {
      if (e instanceof RouteError) return c.json({ error: e.message }, e.status);
      if (isUserError(e)) return c.json({ error: (e as Error).message }, 400);
      throw e;
    }
  }

  async function runOf(id: string): Promise<{ id: string; dir: string; root: string }> {
    const dir = o.runDir(id);
    if (!fs.existsSync(runPaths(dir).meta)) throw new RouteError(404, `There is no run named ${id}.`);
    const meta = await readMeta(dir);
    const root = meta.data ?? o.dataDir();
    if (!root) throw new UserError(`The run ${id} does not record its data folder. Choose the data folder first.`);
    return { id, dir, root: path.resolve(root) };
  }

  /** `file` (relative to the data folder, or absolute inside it) as the journal writes it; 403 outside, 404 missing. */
  function confined(root: string, file: unknown): string {
    if (typeof file !== 'string' || file.trim() === '') throw new UserError('Name the image: a path relative to the data folder.');
    let rel: string;
    try {
      rel = path.isAbsolute(file) ? journalRel(root, file) : file.replace(/\\/g, '/');
    } catch {
      throw new RouteError(403, `${file} is not inside the data folder ${root}: review acts only on its images.`);
    }
    const found = confinedFile(root, encodeRel(rel));
    if ('status' in found)
      throw new RouteError(
        found.status,
        found.status === 403
          ? `${file} is not inside the data folder ${root} (${found.why}).`
          : `No image ${file} in ${root} (${found.why}).`,
      );
    return journalRel(root, found.file);
  }

  function notTraining(): void {
    if (o.trainer.running)
      throw new RouteError(409, `The run ${o.trainer.running} is training on the data: act on it once training has ended.`);
  }

  const imageUrl = (id: string, rel: string) => `/api/runs/${encodeURIComponent(id)}/review/image/${encodeRel(rel)}`;

  function itemView(id: string, item: QueueItem): ReviewItemView {
    return { ...item, url: imageUrl(id, item.file) };
  }

  function entries(store: ReviewStore): ReviewEntryView[] {
    const s = store.state();
    return s.done
      .slice(-JOURNAL_SHOWN)
      .reverse()
      .map((a) => ({
        id: a.id,
        time: a.time,
        action: a.action,
        from: a.from,
        to: a.to,
        ...(a.fromLabel !== undefined ? { fromLabel: a.fromLabel } : {}),
        ...(a.toLabel !== undefined ? { toLabel: a.toLabel } : {}),
        ...(a.undoes ? { undoes: a.undoes } : {}),
        undone: s.undone.has(a.id),
      }));
  }

  async function storeOf(root: string, dir: string): Promise<ReviewStore> {
    return ReviewStore.open(root, runTable(root, (await readMeta(dir)).options ?? {}));
  }

  async function view(run: { id: string; dir: string; root: string }): Promise<ReviewView> {
    const q = await reviewQueue(run.dir, run.root);
    const store = await storeOf(run.root, run.dir);
    const { dataRoot, classes, table, checked } = q;
    return {
      run: run.id,
      dataRoot,
      classes,
      ...(table ? { table } : {}),
      journal: journalPath(run.root),
      items: q.items.map((i) => itemView(run.id, i)),
      checked,
      entries: entries(store),
    };
  }

  app.get('/api/runs/:id/review', (c) =>
    answer(c, async () => {
      notTraining();
      return view(await runOf(c.req.param('id')));
    }),
  );

  app.post('/api/runs/:id/review/files', (c) =>
    answer(c, async () => {
      const run = await runOf(c.req.param('id'));
      const body = (await c.req.json()) as { files?: unknown };
      if (!Array.isArray(body.files) || body.files.length === 0 || body.files.length > 500)
        throw new UserError('Send { files: [...] }: from 1 to 500 paths relative to the data folder.');
      const wanted = body.files.map((f) => confined(run.root, f));
      const meta = await readMeta(run.dir);
      const items = wanted.map((rel): ReviewItemView => {
        const parts = rel.split('/');
        const label = parts.length > 2 ? parts[1] : parts.length === 2 ? parts[0] : null;
        return {
          file: rel,
          url: imageUrl(run.id, rel),
          split: parts.length > 2 ? parts[0] : '.',
          label: label !== null && meta.classes.includes(label) ? label : null,
          reasons: [{ kind: 'selected', text: 'chosen in another panel' }],
        };
      });
      return { items, classes: meta.classes };
    }),
  );

  app.post('/api/runs/:id/review/action', (c) =>
    answer(c, async () => {
      notTraining();
      const run = await runOf(c.req.param('id'));
      const r = (await c.req.json()) as Partial<ReviewActionRequest>;
      const file = confined(run.root, r.file);
      const store = await storeOf(run.root, run.dir);
      const done =
        r.action === 'relabel'
          ? await store.relabel(file, String(r.to ?? ''))
          : r.action === 'quarantine'
            ? await store.quarantine(file)
            : r.action === 'check'
              ? await store.check(file)
              : undefined;
      if (!done) throw new UserError(`The action must be relabel, quarantine or check, got '${r.action}'.`);
      return { done, entries: entries(store) };
    }),
  );

  app.post('/api/runs/:id/review/undo', (c) =>
    answer(c, async () => {
      notTraining();
      const run = await runOf(c.req.param('id'));
      const { id } = (await c.req.json()) as { id?: unknown };
      const store = await storeOf(run.root, run.dir);
      const done = await store.undo(typeof id === 'string' && id !== '' ? id : undefined);
      return { done, entries: entries(store) };
    }),
  );

  app.get('/api/runs/:id/review/image/*', async (c) => {
    try {
      const run = await runOf(c.req.param('id'));
      const prefix = `/api/runs/${encodeURIComponent(run.id)}/review/image/`;
      const found = confinedFile(run.root, new URL(c.req.url).pathname.slice(prefix.length));
      if ('status' in found) return c.text(`${found.status === 403 ? 'Forbidden' : 'Not found'}: ${found.why}.\n`, found.status);
      const type = /\.png$/i.test(found.file) ? 'image/png' : /\.gif$/i.test(found.file) ? 'image/gif' : 'image/jpeg';
      return c.body(new Uint8Array(fs.readFileSync(found.file)), 200, {
        'content-type': type,
        'cache-control': 'no-store',
        'content-security-policy': 'sandbox',
      });
    } catch (e) {
      if (e instanceof RouteError) return c.text(`${e.message}\n`, e.status);
      throw e;
    }
  });
}
