import { createHash } from 'node:crypto';
import { createReadStream, existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../errors.js';
import { KERAS_WEIGHTS_BASE_URL, type KerasWeightFile } from './kerasWeightFiles.js';

/** Where downloaded weights are kept: $TLKIT_CACHE, else $XDG_CACHE_HOME/tlkit, else ~/.cache/tlkit. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TLKIT_CACHE) return path.resolve(env.TLKIT_CACHE);
  if (env.XDG_CACHE_HOME) return path.join(env.XDG_CACHE_HOME, 'tlkit');
  return path.join(os.homedir(), '.cache', 'tlkit');
}

/** Base URL of the Keras applications storage ($TLKIT_WEIGHTS_URL overrides), always ending in "/". */
export function weightsBaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.TLKIT_WEIGHTS_URL || KERAS_WEIGHTS_BASE_URL;
  return base.endsWith('/') ? base : `${base}/`;
}

export function weightFileUrl(spec: KerasWeightFile, baseUrl = weightsBaseUrl()): string {
  // A file Keras fetches from elsewhere keeps its own address unless a mirror is in use.
  if (spec.url && baseUrl === weightsBaseUrl({})) return spec.url;
  return `${baseUrl}${spec.subdir}/${spec.fileName}`;
}

export function cachedWeightPath(spec: KerasWeightFile, root = cacheRoot()): string {
  return path.join(root, 'weights', spec.fileName);
}

/** The hex digest of a file with `algorithm` (md5, sha256). */
export async function hashFile(file: string, algorithm: 'md5' | 'sha256'): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface EnsureWeightsOptions {
  /** Cache folder (default cacheRoot()). */
  cacheDir?: string;
  /** Storage base URL (default weightsBaseUrl()). */
  baseUrl?: string;
  /** Override of the expected MD5 (tests); default the spec's. null = do not check. */
  md5?: string | null;
  /** Override of the expected SHA-256 (tests); default the spec's. null = do not check. */
  sha256?: string | null;
  /** Also look for the file in Keras's own cache (~/.keras/models). Default true. */
  useKerasCache?: boolean;
  /** Called with (bytesSoFar, totalBytes or undefined) while downloading. */
  onProgress?: (received: number, total: number | undefined) => void;
  /** Print one line to stderr when a download starts. Default true. */
  announce?: boolean;
}

function kerasCacheCandidates(spec: KerasWeightFile): string[] {
  const kerasHome = process.env.KERAS_HOME || path.join(os.homedir(), '.keras');
  return [path.join(kerasHome, 'models', spec.fileName)];
}

function offlineMessage(spec: KerasWeightFile, url: string, target: string, why: string): string {
  return `Could not download the pretrained weights ${spec.fileName} from ${url} (${why}). Download that file on a machine with network access and put it at ${target} (or set TLKIT_CACHE to a folder holding weights/${spec.fileName}, or TLKIT_WEIGHTS_URL to a mirror of the Keras applications storage); or use --weights none for random weights, or --weights FILE for a .h5 you have.`;
}

/**
 * The local path of a Keras weights file: from the cache when present and intact,
 * else downloaded once (streamed to a temp file, MD5 checked, then renamed in place).
 */
export async function ensureWeightFile(spec: KerasWeightFile, opts: EnsureWeightsOptions = {}): Promise<string> {
  const target = cachedWeightPath(spec, opts.cacheDir ?? cacheRoot());
  const url = weightFileUrl(spec, opts.baseUrl ?? weightsBaseUrl());
  // Keras publishes an MD5 or a SHA-256 per file; check whichever there is.
  const expectedSha = opts.sha256 === undefined ? spec.sha256 : (opts.sha256 ?? undefined);
  const expected = expectedSha ? undefined : opts.md5 === undefined ? spec.md5 : (opts.md5 ?? undefined);
  const algorithm: 'md5' | 'sha256' = expectedSha ? 'sha256' : 'md5';
  const expectedDigest = expectedSha ?? expected;

  const candidates = [target, ...(opts.useKerasCache === false ? [] : kerasCacheCandidates(spec))];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    if (!expectedDigest || (await hashFile(file, algorithm)) === expectedDigest) return file;
    if (file === target) await fsp.rm(target, { force: true }); // corrupt cache entry: fetch it again
  }

  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.${Date.now()}.part`;
  if (opts.announce !== false) process.stderr.write(`tlkit: downloading ${spec.fileName} from ${url}\n`);
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new UserError(offlineMessage(spec, url, target, cause?.code ?? cause?.message ?? (e as Error).message));
  }
  if (!response.ok || !response.body) {
    throw new UserError(offlineMessage(spec, url, target, `HTTP ${response.status} ${response.statusText}`.trim()));
  }
  const lengthHeader = response.headers.get('content-length');
  const total = lengthHeader ? Number(lengthHeader) : undefined;
  const hash = createHash(algorithm);
  let received = 0;
  const fh = await fsp.open(tmp, 'w');
  try {
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        received += chunk.byteLength;
        await fh.write(chunk);
        opts.onProgress?.(received, total);
      }
    } catch (e) {
      throw new UserError(
        offlineMessage(
          spec,
          url,
          target,
          `the download was cut off after ${received} bytes${total ? ` of ${total}` : ''}: ${(e as Error).message}`,
        ),
      );
    }
    if (total !== undefined && received !== total) {
      throw new UserError(offlineMessage(spec, url, target, `the download is truncated: got ${received} of ${total} bytes`));
    }
    const digest = hash.digest('hex');
    if (expectedDigest && digest !== expectedDigest) {
      const what = algorithm === 'md5' ? 'MD5' : 'SHA-256';
      throw new UserError(
        `The file downloaded from ${url} has ${what} ${digest}, but Keras publishes ${expectedDigest} for ${spec.fileName}: it is damaged or not the Keras file, and was not kept. Try again; if TLKIT_WEIGHTS_URL points at a mirror, check its copy, or put the right file at ${target}.`,
      );
    }
    await fh.sync();
  } catch (e) {
    await fh.close();
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await fsp.rename(tmp, target);
  return target;
}
