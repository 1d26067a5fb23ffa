/**
 * Image resizing on interleaved RGB pixels, equal to TensorFlow's `tf.image.resize`
 * (what Keras's image_dataset_from_directory uses) and to tfjs
 * `resizeBilinear(x, size, alignCorners=false, halfPixelCenters=true)`:
 * the source coordinate of output pixel i is (i + 0.5) * in/out - 0.5.
 * Done in plain JS rather than with sharp, whose resize kernels differ.
 */

export type Interpolation = 'bilinear' | 'nearest';

/** A window of the source image to resize (the whole image, or a centred crop). */
export interface CropWindow {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * Resize `src` (RGB uint8, `srcWidth` pixels a row) restricted to `win` into
 * `out` (float32, 0..255) at `outOffset`, `outH` x `outW` x 3.
 */
export function resizeRgb(
  src: Uint8Array,
  srcWidth: number,
  win: CropWindow,
  outH: number,
  outW: number,
  out: Float32Array,
  outOffset = 0,
  interpolation: Interpolation = 'bilinear',
): void {
  if (interpolation === 'nearest') return resizeNearest(src, srcWidth, win, outH, outW, out, outOffset);
  const inH = win.height;
  const inW = win.width;
  const rowRatio = inH / outH;
  const colRatio = inW / outW;
  // Per-column source offsets and weights, computed once per image.
  const c0 = new Int32Array(outW);
  const c1 = new Int32Array(outW);
  const cf = new Float64Array(outW);
  for (let c = 0; c < outW; c++) {
    const s = colRatio * (c + 0.5) - 0.5;
    const lo = Math.max(0, Math.floor(s));
    c0[c] = (win.left + lo) * 3;
    c1[c] = (win.left + Math.min(inW - 1, Math.ceil(s))) * 3;
    cf[c] = s - lo;
  }
  const stride = srcWidth * 3;
  let o = outOffset;
  for (let r = 0; r < outH; r++) {
    const s = rowRatio * (r + 0.5) - 0.5;
    const lo = Math.max(0, Math.floor(s));
    const top = (win.top + lo) * stride;
    const bottom = (win.top + Math.min(inH - 1, Math.ceil(s))) * stride;
    const fy = s - lo;
    for (let c = 0; c < outW; c++) {
      const fx = cf[c];
      const a = top + c0[c];
      const b = top + c1[c];
      const d = bottom + c0[c];
      const e = bottom + c1[c];
      for (let ch = 0; ch < 3; ch++) {
        // Same operation order as tfjs's kernel, so results agree to float32 rounding.
        const tl = src[a + ch];
        const t = tl + (src[b + ch] - tl) * fx;
        const bl = src[d + ch];
        const bo = bl + (src[e + ch] - bl) * fx;
        out[o++] = t + (bo - t) * fy;
      }
    }
  }
}

function resizeNearest(
  src: Uint8Array,
  srcWidth: number,
  win: CropWindow,
  outH: number,
  outW: number,
  out: Float32Array,
  outOffset: number,
): void {
  const rowRatio = win.height / outH;
  const colRatio = win.width / outW;
  const cols = new Int32Array(outW);
  for (let c = 0; c < outW; c++) {
    cols[c] = (win.left + Math.max(0, Math.min(win.width - 1, Math.floor(colRatio * (c + 0.5))))) * 3;
  }
  let o = outOffset;
  for (let r = 0; r < outH; r++) {
    const row = (win.top + Math.max(0, Math.min(win.height - 1, Math.floor(rowRatio * (r + 0.5))))) * srcWidth * 3;
    for (let c = 0; c < outW; c++) {
      const p = row + cols[c];
      out[o++] = src[p];
      out[o++] = src[p + 1];
      out[o++] = src[p + 2];
    }
  }
}

/**
 * The largest centred window of a `height` x `width` image that has the aspect
 * ratio of `target` (Keras `smart_resize`, used for crop_to_aspect_ratio=True).
 */
export function aspectCropWindow(height: number, width: number, target: [number, number]): CropWindow {
  const [th, tw] = target;
  const ch = Math.max(1, Math.min(height, Math.trunc((width * th) / tw)));
  const cw = Math.max(1, Math.min(width, Math.trunc((height * tw) / th)));
  return { top: Math.trunc((height - ch) / 2), left: Math.trunc((width - cw) / 2), height: ch, width: cw };
}
