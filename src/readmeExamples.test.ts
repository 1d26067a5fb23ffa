import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import ts from 'typescript';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The ```ts blocks of the README's "Library API" section, in order. */
function libraryExamples(): string[] {
  const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Library API'), readme.indexOf('\n### ', readme.indexOf('### Library API') + 1));
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/**
 * A folder where `import ... from 'tlkit'` resolves to this repository's package (its
 * exports: dist/), with the packages the examples import beside it.
 */
function packageFolder(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.mkdirSync(path.join(dir, 'node_modules', '@tensorflow'), { recursive: true });
  fs.symlinkSync(repo, path.join(dir, 'node_modules', 'tlkit'));
  fs.symlinkSync(path.join(repo, 'node_modules', '@tensorflow', 'tfjs-core'), path.join(dir, 'node_modules', '@tensorflow', 'tfjs-core'));
  fs.symlinkSync(path.join(repo, 'node_modules', '@types'), path.join(dir, 'node_modules', '@types'));
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ type: 'module', private: true })}\n`);
  return dir;
}

test("the README's TypeScript examples type-check as a user's project compiles them (tsc --init's strict and skipLibCheck)", () => {
  const examples = libraryExamples();
  assert.equal(examples.length, 2, 'two examples in the Library API section');
  const dir = packageFolder('tlkit-readme-tsc-');
  try {
    examples.forEach((code, i) => fs.writeFileSync(path.join(dir, `example${i + 1}.ts`), code));
    const tsconfig = {
      compilerOptions: {
        strict: true,
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        noEmit: true,
        types: ['node'],
        skipLibCheck: true,
      },
      include: ['*.ts'],
    };
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
    const tsc = spawnSync(process.execPath, [path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
    assert.equal(tsc.status, 0, `tsc --strict rejects the README's examples:\n${tsc.stdout}${tsc.stderr}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** The book's layout with the file names of Kaggle's cats vs dogs: reddish "cats", bluish "dogs", noisy JPEGs. */
async function writeDataset(root: string): Promise<void> {
  let s = 11;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const splits: Array<[string, number, number]> = [
    ['train', 0, 12],
    ['validation', 1000, 6],
    ['test', 1500, 6],
  ];
  for (const [split, first, n] of splits) {
    for (const [cls, stem] of [
      ['cats', 'cat'],
      ['dogs', 'dog'],
    ]) {
      const dir = path.join(root, split, cls);
      fs.mkdirSync(dir, { recursive: true });
      for (let i = 0; i < n; i++) {
        const px = Buffer.alloc(48 * 40 * 3);
        for (let p = 0; p < 48 * 40; p++) {
          const strong = 140 + rand() * 110;
          const weak = rand() * 90;
          px[p * 3] = cls === 'cats' ? strong : weak;
          px[p * 3 + 1] = rand() * 100;
          px[p * 3 + 2] = cls === 'cats' ? weak : strong;
        }
        await sharp(px, { raw: { width: 48, height: 40, channels: 3 } })
          .jpeg()
          .toFile(path.join(dir, `${stem}.${first + i}.jpg`));
      }
    }
  }
}

test("the README's library examples run as written (against the built package)", { timeout: 600_000 }, async () => {
  const examples = libraryExamples();
  assert.equal(examples.length, 2, 'two examples in the Library API section');
  const dir = packageFolder('tlkit-readme-');
  try {
    await writeDataset(path.join(dir, 'data', 'cats_vs_dogs_small'));
    examples.forEach((code, i) => {
      // TypeScript, run as its compiler emits it (the test above type-checks it).
      const file = path.join(dir, `example${i + 1}.mjs`);
      const js = ts.transpileModule(code, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } });
      fs.writeFileSync(file, js.outputText);
      // Its own cache: features land in the temporary folder, not in the user's ~/.cache.
      const r = spawnSync(process.execPath, [file], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, TLKIT_CACHE: path.join(dir, 'cache') },
      });
      assert.equal(r.status, 0, `example ${i + 1} failed:\n${r.stderr}`);
      if (i === 0) {
        assert.match(r.stdout, /best epoch \d+: val_loss \d/);
        assert.match(r.stdout, /^(cats|dogs) (1|0\.\d+)/m);
        assert.match(r.stdout, /test accuracy \d\.\d{3}/);
      } else {
        assert.match(r.stdout, /\[ 'cats', 'dogs' \] (cats|dogs) \[ \{ label: '(cats|dogs)', probability: [\d.e-]+ \} \]/);
      }
    });
    assert.ok(fs.existsSync(path.join(dir, 'runs', 'finetune', 'model', 'model.json')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
