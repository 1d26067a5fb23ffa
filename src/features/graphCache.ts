import { createHash } from 'node:crypto';
import { promises as fsp, readFileSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { removeDeadTemporaries, writeFileAtomic } from '../io/atomicWrite.js';
import { isProcessAlive } from '../io/lock.js';
import { tlkitVersion } from '../version.js';
import { cacheRoot } from '../weights/download.js';

// Exported ONNX graphs kept across processes, so that a second command on the same
// base (or the same run) skips building the tfjs model and exporting it. An entry is
// two files named by the key's hash: <hash>.onnx (the graph; <hash>.ort for a graph in
// ONNX Runtime's own format, key.extra.format 'ort') and <hash>.json (the key,
// and the graph's size and sha256). The .json is written last, so it is the commit
// mark: a graph without one, or whose bytes do not match it, is rebuilt, never run.

/** Bump when the exporter's output changes for the same model (tlkit's version is in the key too). */
export const GRAPH_EXPORTER_VERSION = 1;
const FORMAT = 'tlkit-graph-cache';
/** Default size bound of the cache folder; the least recently used entries go first. */
const DEFAULT_LIMIT_MB = 4096;

/** What a graph is a function of. Every field takes part in the key; add any that changes the bytes. */
export interface GraphKey {
  /** 'frozen' (a base, or its prefix, with its preprocessing), 'run' (a run's whole model), ... */
  kind: string;
  weightsHash: string;
  /** Where the base is cut ('' for the whole base). */
  cut: string;
  imageSize: [number, number];
  precision: string;
  /** Anything else the graph depends on (preprocessing, the calibration's hash, ...). */
  extra?: Record<string, unknown>;
}

export interface GraphCacheOptions {
  /** The folder (default: <tlkit cache>/graphs, see graphCacheDir). */
  dir?: string;
  /** Where a rebuilt corrupt entry is reported (default: stderr). */
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** $TLKIT_GRAPH_CACHE (a folder, or 'off'), else <tlkit cache>/graphs ($TLKIT_CACHE, $XDG_CACHE_HOME/tlkit, ~/.cache/tlkit). */
export function graphCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const own = env.TLKIT_GRAPH_CACHE;
  if (own === 'off' || own === '0') return undefined;
  return own ? path.resolve(own) : path.join(cacheRoot(env), 'graphs');
}

/** The entry's file name stem: sha256 of the key with the cache format, exporter and tlkit versions. */
export function graphKeyHash(key: GraphKey): string {
  const full = { format: FORMAT, exporter: GRAPH_EXPORTER_VERSION, tlkit: tlkitVersion(), ...key, extra: key.extra ?? {} };
  return createHash('sha256').update(JSON.stringify(full)).digest('hex');
}

interface EntryMeta {
  format: typeof FORMAT;
  key: GraphKey;
  bytes: number;
  sha256: string;
  createdAt: string;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function entryFiles(dir: string, key: GraphKey): { graph: string; meta: string } {
  const stem = path.join(dir, graphKeyHash(key));
  return { graph: `${stem}.${key.extra?.format === 'ort' ? 'ort' : 'onnx'}`, meta: `${stem}.json` };
}

type Lookup = { bytes: Uint8Array } | { missing: true } | { corrupt: string };

function lookup(dir: string, key: GraphKey): Lookup {
  const files = entryFiles(dir, key);
  let meta: EntryMeta;
  try {
    meta = JSON.parse(readFileSync(files.meta, 'utf8')) as EntryMeta;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { missing: true };
    return { corrupt: `${files.meta} is unreadable (${(e as Error).message})` };
  }
  if (meta.format !== FORMAT || typeof meta.sha256 !== 'string') return { corrupt: `${files.meta} is not a graph cache entry` };
  let bytes: Uint8Array;
  try {
    const read = readFileSync(files.graph);
    bytes = new Uint8Array(read.buffer, read.byteOffset, read.byteLength); // a view, not a copy of 60 MB
  } catch (e) {
    return { corrupt: `${files.graph} is unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  if (bytes.length !== meta.bytes) return { corrupt: `${files.graph} holds ${bytes.length} bytes, ${meta.bytes} expected (truncated?)` };
  if (sha256(bytes) !== meta.sha256) return { corrupt: `${files.graph} does not match its recorded sha256` };
  return { bytes };
}

/** The cached graph for `key`, or undefined (none, the cache is off, or the entry is corrupt: then it is removed, with a log line). */
export function readCachedGraph(key: GraphKey, opts: GraphCacheOptions = {}): Uint8Array | undefined {
  const dir = opts.dir ?? graphCacheDir(opts.env);
  if (!dir) return undefined;
  const found = lookup(dir, key);
  if ('bytes' in found) {
    touch(entryFiles(dir, key).meta);
    return found.bytes;
  }
  if ('corrupt' in found) discardCachedGraph(key, found.corrupt, { ...opts, dir });
  return undefined;
}

/** Drop the entry of `key`, saying `why` with one log line (its commit mark first, so a half-removed entry is never served). */
export function discardCachedGraph(key: GraphKey, why: string, opts: GraphCacheOptions = {}): void {
  const dir = opts.dir ?? graphCacheDir(opts.env);
  if (!dir) return;
  (opts.log ?? stderrLine)(`graph cache: ${why}; rebuilding it.`);
  const files = entryFiles(dir, key);
  rmSync(files.meta, { force: true });
  rmSync(files.graph, { force: true });
}

/** Store `bytes` as the graph of `key` (atomically; a failure to write is reported and otherwise ignored: the cache is an optimisation). */
export async function writeCachedGraph(key: GraphKey, bytes: Uint8Array, opts: GraphCacheOptions = {}): Promise<void> {
  const dir = opts.dir ?? graphCacheDir(opts.env);
  if (!dir) return;
  const files = entryFiles(dir, key);
  const meta: EntryMeta = { format: FORMAT, key, bytes: bytes.length, sha256: sha256(bytes), createdAt: new Date().toISOString() };
  try {
    await fsp.mkdir(dir, { recursive: true });
    // What a killed writer left half-written (a graph, the ORT-format file a session was saving) only takes space.
    await removeDeadTemporaries(dir, isProcessAlive);
    prune(dir, limitBytes(opts.env ?? process.env) - bytes.length);
    await writeFileAtomic(files.graph, bytes);
    await writeFileAtomic(files.meta, `${JSON.stringify(meta, null, 2)}\n`);
  } catch (e) {
    // No graph without its commit mark: a graph written before the .json failed would only take space.
    rmSync(files.graph, { force: true });
    (opts.log ?? stderrLine)(`graph cache: could not write ${files.graph} (${(e as Error).message}); continuing without it.`);
  }
}

/** The graph of `key`: from the cache when it holds a sound copy, else built (and cached). `hit` says which. */
export async function cachedGraph(
  key: GraphKey,
  build: () => Uint8Array | Promise<Uint8Array>,
  opts: GraphCacheOptions = {},
): Promise<{ bytes: Uint8Array; hit: boolean }> {
  const cached = readCachedGraph(key, opts);
  if (cached) return { bytes: cached, hit: true };
  const bytes = await build();
  await writeCachedGraph(key, bytes, opts);
  return { bytes, hit: false };
}

function stderrLine(line: string): void {
  process.stderr.write(`tlkit: ${line}\n`);
}

function limitBytes(env: NodeJS.ProcessEnv): number {
  const mb = Number(env.TLKIT_GRAPH_CACHE_MB);
  return (Number.isFinite(mb) && mb > 0 ? mb : DEFAULT_LIMIT_MB) * 1024 * 1024;
}

function touch(file: string): void {
  const now = new Date();
  try {
    utimesSync(file, now, now);
  } catch {
    // a read-only cache still serves its graphs
  }
}

/** A remembered weights hash (runGraph.ts) unused this long is dropped; recomputing one costs a read of the run's model/. */
const WEIGHTS_MEMO_DAYS = 30;

/**
 * Remove the least recently used entries until the folder holds at most `budget` bytes, and
 * the remembered weights hashes (weights-*.txt, touched when read) not used for WEIGHTS_MEMO_DAYS.
 */
function prune(dir: string, budget: number): void {
  const names = readdirSync(dir);
  const stale = Date.now() - WEIGHTS_MEMO_DAYS * 86_400_000;
  for (const f of names.filter((n) => /^weights-[0-9a-f]{64}\.txt$/.test(n))) {
    const file = path.join(dir, f);
    if ((statOrUndefined(file)?.mtimeMs ?? 0) < stale) rmSync(file, { force: true });
  }
  const entries = names
    .filter((f) => /\.(onnx|ort)$/.test(f))
    .map((f) => {
      const graph = path.join(dir, f);
      const meta = graph.replace(/\.(onnx|ort)$/, '.json');
      const used = statOrUndefined(meta)?.mtimeMs ?? 0;
      return { graph, meta, size: statOrUndefined(graph)?.size ?? 0, used };
    })
    .sort((a, b) => b.used - a.used);
  let total = 0;
  for (const e of entries) {
    total += e.size;
    if (total <= budget) continue;
    rmSync(e.meta, { force: true });
    rmSync(e.graph, { force: true });
  }
}

function statOrUndefined(file: string): { size: number; mtimeMs: number } | undefined {
  try {
    return statSync(file);
  } catch {
    return undefined;
  }
}
