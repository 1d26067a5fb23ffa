import { randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';

/**
 * The rules that keep `tlkit ui` to its user: the server listens on the loopback
 * address only; every request carries the random token (in the printed URL once, then
 * as a cookie); the Host and Origin headers must name this server (a page elsewhere,
 * or a DNS-rebound name, gets 403); files are served only from inside their folder.
 */

/** The only address the server listens on. */
export const UI_HOST = '127.0.0.1';
export const TOKEN_COOKIE = 'tlkit_ui_token';
export const TOKEN_PARAM = 'token';

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison of a presented token with the server's. */
export function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Host header values that name this server (anything else is another name pointed at 127.0.0.1: DNS rebinding). */
export function allowedHosts(port: number): string[] {
  return [`${UI_HOST}:${port}`, `localhost:${port}`];
}

function forbidden(why: string): Response {
  return new Response(`Forbidden: ${why}\n`, { status: 403, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

/**
 * The guard in front of every route. A request with the right `?token=` gets the cookie
 * and is redirected to the same path without the token (so it leaves the address bar
 * and the history); any other request needs the cookie.
 */
export function guard(token: string, port: () => number): MiddlewareHandler {
  return async (c, next) => {
    const hosts = allowedHosts(port());
    const host = c.req.header('host') ?? '';
    if (!hosts.includes(host.toLowerCase()))
      return forbidden(`the Host header '${host}' does not name this server (${hosts.join(' or ')}).`);
    const origin = c.req.header('origin');
    if (origin !== undefined && !hosts.some((h) => origin.toLowerCase() === `http://${h}`))
      return forbidden(`cross-origin request from '${origin}'.`);
    if (c.req.header('sec-fetch-site') === 'cross-site') return forbidden('cross-site request.');
    const url = new URL(c.req.url);
    const fromUrl = url.searchParams.get(TOKEN_PARAM);
    if (fromUrl !== null && sameToken(fromUrl, token)) {
      setCookie(c, TOKEN_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/' });
      url.searchParams.delete(TOKEN_PARAM);
      return c.redirect(`${url.pathname}${url.search}`, 303);
    }
    if (!sameToken(getCookie(c, TOKEN_COOKIE), token))
      return forbidden('no valid token. Open the URL `tlkit ui` printed (it ends in ?token=...).');
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
    await next();
  };
}

export type Confined = { file: string } | { status: 403 | 404; why: string };

/**
 * The file that the URL path `encodedRest` (still percent-encoded, '/'-separated) names
 * inside `root`, or why not: 403 for a path that tries to leave the folder (a `..` or
 * `.` segment, an empty one as in `//etc`, an encoded separator or NUL, a symlink whose
 * target is outside), 404 for one that does not exist or is not a file.
 */
export function confinedFile(root: string, encodedRest: string): Confined {
  const segments: string[] = [];
  for (const raw of encodedRest.split('/')) {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      return { status: 403, why: 'bad percent-encoding' };
    }
    if (s === '' || s === '.' || s === '..' || /[/\\\0]/.test(s)) return { status: 403, why: `path segment '${raw}' is not allowed` };
    segments.push(s);
  }
  let rootReal: string;
  try {
    rootReal = fs.realpathSync(root);
  } catch {
    return { status: 404, why: 'the folder is gone' };
  }
  let real: string;
  try {
    real = fs.realpathSync(path.join(rootReal, ...segments));
  } catch {
    return { status: 404, why: 'no such file' };
  }
  if (!real.startsWith(rootReal + path.sep)) return { status: 403, why: 'outside the folder' };
  if (!fs.statSync(real).isFile()) return { status: 404, why: 'not a file' };
  return { file: real };
}

/** A URL path for a file under a served folder: each segment percent-encoded. */
export function encodeRel(rel: string): string {
  return rel.split(/[/\\]/).map(encodeURIComponent).join('/');
}
