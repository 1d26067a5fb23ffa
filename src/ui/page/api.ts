// The page's calls to the server: same-origin fetches (the token travels as the cookie).
import type { ApiError } from '../protocol.js';

async function parse<T>(r: Response): Promise<T> {
  const text = await r.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${r.status} ${r.statusText}: ${text.slice(0, 200)}`);
  }
  if (!r.ok) throw new Error((body as Partial<ApiError>).error ?? `${r.status} ${r.statusText}`);
  return body as T;
}

export async function getJson<T>(url: string): Promise<T> {
  return parse<T>(await fetch(url, { credentials: 'same-origin' }));
}

export async function postJson<T>(url: string, body: unknown): Promise<T> {
  return parse<T>(
    await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );
}

export async function postForm<T>(url: string, form: FormData): Promise<T> {
  return parse<T>(await fetch(url, { method: 'POST', credentials: 'same-origin', body: form }));
}
