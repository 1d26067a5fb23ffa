import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Context, Hono } from 'hono';
import { UserError } from '../errors.js';
import type { DatasetMap } from '../explore/datasetMap.js';
import { thumbnail } from '../report/thumbnail.js';
import { readMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import type { MapAnswer, MapPointView } from './protocol.js';
import { confinedFile, encodeRel } from './security.js';
import type { Trainer } from './trainer.js';

// A run's map is kept in RUN/map/ (runPaths' `map`): what `tlkit map RUN --out RUN/map` writes (map.json and the two plots).

/** The seed `tlkit map` uses when given none. */
const DEFAULT_MAP_SEED = 42;
/** An image is flagged when more than this share of its nearest neighbours carry another label. */
const OUTLIER_SHARE = 0.5;

/** The CLI, from src/ui/ (tests) and from dist/ui/ alike. */
const TLKIT_BIN = fileURLToPath(new URL('../../bin/tlkit.js', import.meta.url));

export interface MapRouteOptions {
  /** A run's folder from its id (a UserError for a name that is not one). */
  runDir: (id: string) => string;
  /** The folder chosen in the page: the data of a run that does not record its own. */
  dataDir: () => string | null;
  trainer: Trainer;
}

interface Job {
  run: string;
  seed: number;
  child: ChildProcess;
  stage: string;
  done: number;
  total: number;
  line: string;
}

/** A progress line of `tlkit map` on a pipe: "extract train: 120/2000 images, ..." or "map: UMAP epochs 100/400". */
const PROGRESS = /^(extract \S+?|map: [A-Za-z ]+?):? (\d+)\/(\d+)/;

function parseSeed(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_MAP_SEED;
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 31 - 1)
    throw new UserError(`The map's seed must be a whole number from 0 to 2147483647, got '${text}'.`);
  return seed;
}

/** map.json as the page takes it: the points with their outlier flag, the flagged ones in order, how many files have moved since. */
export function mapView(run: string, map: DatasetMap): MapAnswer {
  const points: MapPointView[] = map.points.map((p) => ({
    file: p.file.split(path.sep).join('/'),
    label: p.label,
    split: p.split,
    x: p.x,
    y: p.y,
    outlier: p.outlier > OUTLIER_SHARE,
    score: p.outlier,
    looksLike: p.looksLike,
  }));
  return {
    status: 'ready',
    run,
    seed: map.umap.seed,
    dataRoot: map.dataRoot,
    classNames: map.classNames,
    splits: map.splits,
    points,
    outliers: map.outliers.filter((i) => points[i].outlier),
    outlierNeighbors: map.outlierNeighbors,
    missing: map.points.filter((p) => !fs.existsSync(path.join(map.dataRoot, p.file))).length,
    seconds: map.seconds,
  };
}

/** The map on disk, or null when there is none (or one `tlkit map` did not finish). */
function readMap(dir: string): DatasetMap | null {
  const file = path.join(runPaths(dir).map, 'map.json');
  if (!fs.existsSync(file)) return null;
  const map = JSON.parse(fs.readFileSync(file, 'utf8')) as DatasetMap;
  return map.format === 'tlkit-map' ? map : null;
}

/**
 * GET /api/runs/:id/map[?seed=N][&refresh=1][&peek=1]: the run's dataset map (UMAP of its
 * base's pooled features, outliers flagged). A map not yet on disk (or of another seed, or
 * with refresh=1) is computed by `tlkit map RUN --out RUN/map` in a child process, so that
 * the extraction and the layout (seconds to minutes) never hold up the server: meanwhile the
 * route answers its progress, and the page asks again. One map is computed at a time.
 * GET /api/runs/:id/thumbnail?file=REL: a small JPEG of an image of the run's data folder
 * (the report's thumbnail), nothing outside that folder.
 */
export function registerMap(app: Hono, o: MapRouteOptions): { dispose: () => Promise<void> } {
  let job: Job | null = null;
  /** The error of a run's last computation, answered once to the page that waits for it. */
  const failed = new Map<string, string>();

  function checkedRun(c: Context, id: string): string | Response {
    const dir = o.runDir(id);
    if (!fs.existsSync(runPaths(dir).meta)) return c.json({ error: `There is no run named ${id}.` }, 404);
    return dir;
  }

  async function dataRoot(dir: string): Promise<string> {
    const root = (await readMeta(dir)).data ?? o.dataDir();
    if (!root) throw new UserError('The run does not record its data folder. Choose the data folder first.');
    return root;
  }

  function computing(j: Job): MapAnswer {
    return { status: 'computing', run: j.run, seed: j.seed, stage: j.stage, done: j.done, total: j.total, line: j.line };
  }

  async function start(id: string, dir: string, seed: number): Promise<Job> {
    const args = [TLKIT_BIN, 'map', dir, '--out', runPaths(dir).map, '--seed', String(seed)];
    const meta = await readMeta(dir);
    if (!meta.data) args.push('--data', await dataRoot(dir));
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: process.env });
    const j: Job = { run: id, seed, child, stage: 'starting', done: 0, total: 0, line: 'Starting tlkit map ...' };
    const said: string[] = [];
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (raw) => {
      const line = raw.trim();
      if (line === '') return;
      said.push(line);
      const m = PROGRESS.exec(line);
      if (m) Object.assign(j, { stage: m[1].replace(/^map: /, ''), done: Number(m[2]), total: Number(m[3]) });
      j.line = line;
    });
    child.on('close', (code, signal) => {
      if (job === j) job = null;
      if (code === 0) return;
      const errors = said.filter((l) => l.startsWith('tlkit: ')).map((l) => l.slice('tlkit: '.length));
      failed.set(
        id,
        `The map of ${id} could not be computed${signal ? ` (stopped by ${signal})` : ''}: ${errors.join(' ') || said.slice(-3).join(' ') || `exit code ${code}`}`,
      );
    });
    child.on('error', (e) => failed.set(id, `tlkit map could not start: ${e.message}`));
    return j;
  }

  app.get('/api/runs/:id/map', async (c) => {
    const id = c.req.param('id');
    const dir = checkedRun(c, id);
    if (dir instanceof Response) return dir;
    const seed = parseSeed(c.req.query('seed'));
    if (job?.run === id) return c.json(computing(job), 202);
    const error = failed.get(id);
    if (error !== undefined) {
      failed.delete(id);
      throw new UserError(error);
    }
    const onDisk = c.req.query('refresh') === '1' ? null : readMap(dir);
    if (onDisk && (onDisk.umap.seed === seed || c.req.query('peek') === '1')) return c.json(mapView(id, onDisk));
    if (c.req.query('peek') === '1') return c.json({ status: 'absent', run: id } satisfies MapAnswer);
    if (o.trainer.running === id) return c.json({ error: `The run ${id} is still training. Map it once it has ended.` }, 409);
    if (job) return c.json({ error: `The map of ${job.run} is being computed; map ${id} once it is done.` }, 409);
    job = await start(id, dir, seed);
    return c.json(computing(job), 202);
  });

  app.get('/api/runs/:id/thumbnail', async (c) => {
    const dir = checkedRun(c, c.req.param('id'));
    if (dir instanceof Response) return dir;
    const file = c.req.query('file') ?? '';
    if (file.trim() === '') throw new UserError('Name the image: ?file=<a file of the data folder, relative to it>.');
    const root = await dataRoot(dir);
    const found = confinedFile(root, encodeRel(file));
    if ('status' in found)
      return c.json(
        {
          error:
            found.status === 403
              ? `${file} is not inside the run's data folder ${root}: only its images are shown.`
              : `No image ${file} in ${root} (${found.why}).`,
        },
        found.status,
      );
    const size = Math.min(512, Math.max(16, Number.parseInt(c.req.query('size') ?? '160', 10) || 160));
    const uri = await thumbnail(found.file, size);
    if (!uri) return c.json({ error: `${file} cannot be read as an image.` }, 415);
    const jpeg = Buffer.from(uri.slice(uri.indexOf(',') + 1), 'base64');
    return c.body(new Uint8Array(jpeg), 200, { 'content-type': 'image/jpeg', 'cache-control': 'private, max-age=600' });
  });

  return {
    /** Stop a map being computed (atomic writes: no half-written map is left). */
    dispose: async () => {
      job?.child.kill('SIGTERM');
      job = null;
    },
  };
}
