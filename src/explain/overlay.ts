import sharp from 'sharp';
import type { RgbImage } from '../data/decode.js';

// A Grad-CAM map drawn over the photo: upsampled (bilinear) to the photo's size, coloured
// with the jet colour map (blue = nothing, red = what spoke most for the class), blended.

/** Overlays larger than this on their longer side are drawn on the photo scaled down to it. */
export const MAX_OVERLAY_SIDE = 1024;
/** How much of the colour map shows over the photo. */
export const OVERLAY_ALPHA = 0.45;

/**
 * `map` ([h, w], row-major) resized to [outH, outW], bilinear with half-pixel centres (as
 * the photo was resized to the model's input, so each feature cell lands back where it came from).
 */
export function upsampleBilinear(map: ArrayLike<number>, [h, w]: [number, number], [outH, outW]: [number, number]): Float32Array {
  const out = new Float32Array(outH * outW);
  const sy = h / outH;
  const sx = w / outW;
  for (let y = 0; y < outH; y++) {
    const fy = Math.min(h - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(h - 1, y0 + 1);
    const dy = fy - y0;
    for (let x = 0; x < outW; x++) {
      const fx = Math.min(w - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(w - 1, x0 + 1);
      const dx = fx - x0;
      const top = map[y0 * w + x0] * (1 - dx) + map[y0 * w + x1] * dx;
      const bottom = map[y1 * w + x0] * (1 - dx) + map[y1 * w + x1] * dx;
      out[y * outW + x] = top * (1 - dy) + bottom * dy;
    }
  }
  return out;
}

/** The jet colour map at v in 0..1: dark blue, blue, cyan, yellow, red, dark red; RGB 0..255. */
export function jet(v: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, v));
  const channel = (centre: number) => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - centre))));
  return [channel(3), channel(2), channel(1)];
}

/** The photo scaled down (keeping its aspect) so that its longer side is at most MAX_OVERLAY_SIDE. */
async function fitPhoto(photo: RgbImage): Promise<RgbImage> {
  const longer = Math.max(photo.width, photo.height);
  if (longer <= MAX_OVERLAY_SIDE) return photo;
  const scale = MAX_OVERLAY_SIDE / longer;
  const width = Math.max(1, Math.round(photo.width * scale));
  const height = Math.max(1, Math.round(photo.height * scale));
  const data = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
}

/**
 * The PNG of `heat` (0..1, [h, w]) over `photo`. The whole photo is what the model saw
 * (resized to its input without cropping), so the map is stretched over all of it.
 */
export async function overlayPng(photo: RgbImage, heat: ArrayLike<number>, size: [number, number], alpha = OVERLAY_ALPHA): Promise<Buffer> {
  const img = await fitPhoto(photo);
  const up = upsampleBilinear(heat, size, [img.height, img.width]);
  const out = Buffer.alloc(img.width * img.height * 3);
  for (let p = 0; p < up.length; p++) {
    const colour = jet(up[p]);
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round((1 - alpha) * img.data[p * 3 + c] + alpha * colour[c]);
  }
  return sharp(out, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png()
    .toBuffer();
}
