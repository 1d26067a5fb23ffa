// "Why?": the Grad-CAM overlay of a prediction, computed by the server (/api/runs/<run>/explain)
// on the run's own model: the photo under a heatmap of where the model found the evidence for
// its label (red: most, blue: none).
import type { ApiError } from '../protocol.js';
import { action } from './pageState.js';

/** The header naming the label explained (explainRoute.ts's EXPLAINED_LABEL_HEADER; the page imports no server code). */
const LABEL_HEADER = 'x-tlkit-explained-label';

export interface Overlay {
  /** An object URL of the PNG. */
  url: string;
  label: string;
}

async function overlayOf(r: Response): Promise<Overlay> {
  if (!r.ok) {
    const text = await r.text();
    let why = `${r.status} ${r.statusText}`;
    try {
      why = (JSON.parse(text) as Partial<ApiError>).error ?? why;
    } catch {
      why = `${why}: ${text.slice(0, 200)}`;
    }
    throw new Error(`No Grad-CAM: ${why}`);
  }
  return { url: URL.createObjectURL(await r.blob()), label: decodeURIComponent(r.headers.get(LABEL_HEADER) ?? '') };
}

const explainUrl = (run: string) => `/api/runs/${encodeURIComponent(run)}/explain`;

/** The overlay of an image the page holds (Try it's picked or dropped file). */
export async function overlayOfImage(run: string, image: Blob): Promise<Overlay> {
  return overlayOf(await fetch(explainUrl(run), { method: 'POST', credentials: 'same-origin', body: image }));
}

/** The overlay of a file of the run's data folder (a top loss), by its path. */
export async function overlayOfDataFile(run: string, file: string): Promise<Overlay> {
  return overlayOf(await fetch(`${explainUrl(run)}?file=${encodeURIComponent(file)}`, { credentials: 'same-origin' }));
}

/** Forget the overlay `img` shows (a new image came): the next click fetches again. */
export function clearOverlay(img: HTMLImageElement): void {
  if (img.dataset.objectUrl) URL.revokeObjectURL(img.dataset.objectUrl);
  delete img.dataset.objectUrl;
  img.removeAttribute('src');
  img.hidden = true;
}

/**
 * The Why? button: its first click fetches the overlay into `img` and shows it, later
 * clicks hide and show it again. Errors go to the message line `messageId`.
 */
export function wireWhy(button: HTMLButtonElement, img: HTMLImageElement, messageId: string, load: () => Promise<Overlay>): void {
  action(button, messageId, async () => {
    if (!img.hidden) {
      img.hidden = true;
      button.textContent = 'Why?';
      return;
    }
    if (!img.dataset.objectUrl) {
      const o = await load();
      img.src = o.url;
      img.dataset.objectUrl = o.url;
      img.dataset.label = o.label;
      img.alt = `Grad-CAM: where the model found ${o.label}`;
      img.title = `Red: where the model found most evidence for ${o.label}; blue: none.`;
    }
    img.hidden = false;
    button.textContent = 'Hide why';
  });
}
