import { UserError } from '../errors.js';

/** Decoded pixels: interleaved RGB, 8 bits a channel, row-major from the top-left. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * A minimal BMP decoder (sharp/libvips has none): uncompressed 1/4/8-bit palette,
 * 24-bit BGR and 32-bit BGRX/BGRA (BI_RGB or BI_BITFIELDS), bottom-up or top-down.
 * Alpha is dropped, as tf.io.decode_bmp(channels=3) does. `name` is used in errors.
 */
export function decodeBmp(buf: Uint8Array, name: string): RgbImage {
  const fail = (what: string): never => {
    throw new UserError(`${name}: ${what}. Convert it to PNG or JPEG (e.g. with any image editor), or remove it.`);
  };
  if (buf.length < 26 || buf[0] !== 0x42 || buf[1] !== 0x4d) fail('not a BMP file (missing the "BM" signature)');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dataOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  let width: number,
    height: number,
    bpp: number,
    compression = 0,
    paletteSize = 0;
  const paletteEntryBytes = headerSize === 12 ? 3 : 4;
  if (headerSize === 12) {
    width = view.getUint16(18, true);
    height = view.getInt16(20, true);
    bpp = view.getUint16(24, true);
  } else if (headerSize >= 40 && buf.length >= 54) {
    width = view.getInt32(18, true);
    height = view.getInt32(22, true);
    bpp = view.getUint16(28, true);
    compression = view.getUint32(30, true);
    paletteSize = view.getUint32(46, true);
  } else {
    return fail(`unsupported BMP header (size ${headerSize})`);
  }
  const topDown = height < 0;
  height = Math.abs(height);
  if (width <= 0 || height === 0 || width > 1 << 16 || height > 1 << 16) fail(`invalid BMP size ${width}x${height}`);

  // 32-bit BI_BITFIELDS: channel masks follow the 40-byte header (or live inside V4/V5 headers at the same offset).
  let masks: [number, number, number] | undefined;
  if (compression === 3 || compression === 6) {
    if (bpp !== 32 && bpp !== 16) fail(`BI_BITFIELDS with ${bpp} bits per pixel is not supported`);
    if (bpp === 16) fail('16-bit BMP is not supported');
    masks = [view.getUint32(54, true), view.getUint32(58, true), view.getUint32(62, true)];
  } else if (compression !== 0) {
    fail(`compressed BMP (compression type ${compression}, e.g. RLE) is not supported; only uncompressed BMP is`);
  }
  if (![1, 4, 8, 24, 32].includes(bpp)) fail(`${bpp}-bit BMP is not supported (expected 1, 4, 8, 24 or 32 bits per pixel)`);

  let palette: Uint8Array | undefined;
  if (bpp <= 8) {
    const n = paletteSize || 1 << bpp;
    const start = 14 + headerSize;
    if (start + n * paletteEntryBytes > buf.length) fail('truncated BMP palette');
    palette = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      const p = start + i * paletteEntryBytes;
      palette[i * 3] = buf[p + 2];
      palette[i * 3 + 1] = buf[p + 1];
      palette[i * 3 + 2] = buf[p];
    }
  }
  const rowBytes = Math.ceil((width * bpp) / 32) * 4;
  if (dataOffset + rowBytes * height > buf.length) {
    fail(
      `truncated BMP: expected ${dataOffset + rowBytes * height} bytes for ${width}x${height} at ${bpp} bits, the file has ${buf.length}`,
    );
  }
  const out = new Uint8Array(width * height * 3);
  const shifts = masks?.map(maskShift);
  for (let y = 0; y < height; y++) {
    const src = dataOffset + (topDown ? y : height - 1 - y) * rowBytes;
    let o = y * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      if (bpp === 24 || (bpp === 32 && !masks)) {
        const p = src + x * (bpp >> 3);
        out[o] = buf[p + 2];
        out[o + 1] = buf[p + 1];
        out[o + 2] = buf[p];
      } else if (bpp === 32) {
        const v = view.getUint32(src + x * 4, true);
        for (let c = 0; c < 3; c++) out[o + c] = scaleMasked(v, masks![c], shifts![c]);
      } else {
        const bit = x * bpp;
        const byte = buf[src + (bit >> 3)];
        const idx = (byte >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        if (idx * 3 >= palette!.length) fail(`palette index ${idx} out of range`);
        out[o] = palette![idx * 3];
        out[o + 1] = palette![idx * 3 + 1];
        out[o + 2] = palette![idx * 3 + 2];
      }
    }
  }
  return { data: out, width, height };
}

function maskShift(mask: number): number {
  let s = 0;
  while (mask && !((mask >>> s) & 1)) s++;
  return s;
}

function scaleMasked(v: number, mask: number, shift: number): number {
  if (!mask) return 0;
  const max = mask >>> shift;
  return Math.round((((v & mask) >>> shift) * 255) / max);
}

/** Encode RGB pixels as a 24-bit bottom-up BMP (used by tests and fixtures). */
export function encodeBmp24(img: RgbImage): Uint8Array {
  const rowBytes = Math.ceil((img.width * 3) / 4) * 4;
  const size = 54 + rowBytes * img.height;
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  buf[0] = 0x42;
  buf[1] = 0x4d;
  view.setUint32(2, size, true);
  view.setUint32(10, 54, true);
  view.setUint32(14, 40, true);
  view.setInt32(18, img.width, true);
  view.setInt32(22, img.height, true);
  view.setUint16(26, 1, true);
  view.setUint16(28, 24, true);
  view.setUint32(34, rowBytes * img.height, true);
  for (let y = 0; y < img.height; y++) {
    const dst = 54 + (img.height - 1 - y) * rowBytes;
    for (let x = 0; x < img.width; x++) {
      const s = (y * img.width + x) * 3;
      buf[dst + x * 3] = img.data[s + 2];
      buf[dst + x * 3 + 1] = img.data[s + 1];
      buf[dst + x * 3 + 2] = img.data[s];
    }
  }
  return buf;
}
