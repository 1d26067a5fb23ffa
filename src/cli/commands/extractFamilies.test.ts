import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const shared = path.resolve(repoRoot, '../shared');

/** One real JPEG per class and split, linked from the shared dataset. */
function tinyData(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-extract-families-'));
  for (const split of ['train', 'validation', 'test']) {
    for (const cls of ['cats', 'dogs']) {
      const src = path.join(shared, 'data/cats_vs_dogs_small', split, cls);
      const dst = path.join(root, 'data', split, cls);
      fs.mkdirSync(dst, { recursive: true });
      for (const f of fs.readdirSync(src).sort().slice(0, 1)) fs.symlinkSync(path.join(src, f), path.join(dst, f));
    }
  }
  return root;
}

test('tlkit extract through EfficientNetB0 and ConvNeXtTiny (preprocessing inside the model) on ONNX Runtime', {
  skip: !fs.existsSync(path.join(shared, 'data/cats_vs_dogs_small')),
}, async () => {
  const root = tinyData();
  for (const [family, shape] of [
    ['efficientnet_b0', [2, 2, 2, 1280]],
    ['convnext_tiny', [2, 2, 2, 768]],
  ] as const) {
    const out = path.join(root, family);
    const r = spawnSync(
      process.execPath,
      [
        path.join(repoRoot, 'bin/tlkit.js'),
        'extract',
        '--base',
        family,
        '--weights',
        'none',
        '--data',
        path.join(root, 'data'),
        '--out',
        out,
        '--image-size',
        '64',
        '--json',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    assert.equal(manifest.preprocessing, 'none', family);
    // features.npy: a NumPy v1 header, then float32 [n, h, w, c] (read here without the io module)
    const bytes = fs.readFileSync(path.join(out, 'train', 'features.npy'));
    const headerLength = bytes.readUInt16LE(8);
    const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
    assert.match(header, new RegExp(`'shape': \\(${shape.join(', ')}\\)`), `${family}: ${header}`);
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 10 + headerLength, bytes.byteOffset + bytes.length));
    assert.equal(
      data.length,
      shape.reduce((a, b) => a * b, 1),
    );
    assert.ok(data.every(Number.isFinite) && data.some((v) => v !== 0), family);
  }
});
