import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { gradCamFileName, photoOfPixels } from './explainImages.js';
import { jet, overlayPng, upsampleBilinear, MAX_OVERLAY_SIDE } from './overlay.js';

test('jet: blue at 0, green-yellow in the middle, red at 1', () => {
  assert.deepEqual(jet(0), [0, 0, 128]);
  assert.deepEqual(jet(0.5), [128, 255, 128]);
  assert.deepEqual(jet(1), [128, 0, 0]);
  assert.deepEqual(jet(-1), jet(0), 'clamped');
  const [r, , b] = jet(0.875);
  assert.ok(r === 255 && b === 0, 'red side');
});

test('upsampleBilinear: half-pixel centres, a constant map stays constant, each cell lands over its own part of the image', () => {
  assert.deepEqual(Array.from(upsampleBilinear([3, 3, 3, 3], [2, 2], [5, 7])), new Array(35).fill(3));
  // 1x2 -> 1x4: outputs at source coordinates -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped)
  assert.deepEqual(Array.from(upsampleBilinear([0, 4], [1, 2], [1, 4])), [0, 1, 3, 4]);
  const up = upsampleBilinear([0, 0, 0, 1], [2, 2], [8, 8]);
  let best = 0;
  for (let p = 1; p < up.length; p++) if (up[p] > up[best]) best = p;
  assert.ok(Math.floor(best / 8) >= 4 && best % 8 >= 4, 'the hot bottom-right cell peaks in the bottom-right quarter');
});

test("overlayPng: a PNG at the photo's size, hot where the map is hot; large photos are drawn at most 1024 px", async () => {
  const photo = { data: new Uint8Array(40 * 20 * 3).fill(128), width: 40, height: 20 };
  const png = await overlayPng(photo, [0, 0, 0, 1], [2, 2]);
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.format, 'raw');
  assert.deepEqual([info.width, info.height, info.channels], [40, 20, 3]);
  const at = (x: number, y: number) => Array.from(data.subarray((y * 40 + x) * 3, (y * 40 + x) * 3 + 3));
  const [r1, , b1] = at(39, 19);
  const [r0, , b0] = at(0, 0);
  assert.ok(r1 > b1, `hot corner is red: ${at(39, 19)}`);
  assert.ok(b0 > r0, `cold corner is blue: ${at(0, 0)}`);
  const big = { data: new Uint8Array(2000 * 100 * 3), width: 2000, height: 100 };
  const meta = await sharp(await overlayPng(big, [1], [1, 1])).metadata();
  assert.deepEqual([meta.width, meta.height], [MAX_OVERLAY_SIDE, 51]);
});

test('gradCamFileName: <name>.gradcam.png, the same name twice in one call gets -2', () => {
  const taken = new Set<string>();
  assert.equal(gradCamFileName('/a/train/cat.1.jpg', taken), 'cat.1.gradcam.png');
  assert.equal(gradCamFileName('/a/test/cat.1.jpg', taken), 'cat.1-2.gradcam.png');
  assert.equal(gradCamFileName('dog', taken), 'dog.gradcam.png');
  const p = photoOfPixels(new Float32Array([-3, 12.6, 300, 0, 0, 0]), [1, 2]);
  assert.deepEqual([p.width, p.height, ...p.data], [2, 1, 0, 13, 255, 0, 0, 0]);
});
