import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import type { Job } from 'kubernetes-types/batch/v1.js';
import type { PersistentVolumeClaim } from 'kubernetes-types/core/v1.js';
import { linkedPhotoData, SHARED_MOBILENET } from '../testing/linkedPhotos.js';
import { shardOf } from './assign.js';

// No cluster here (kubectl --dry-run=client still asks a server), so the manifests are
// checked against Kubernetes' published types by the TypeScript compiler, and the fields
// that make the sharding work are checked one by one.

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DIR = path.join(repoRoot, 'deploy/kubernetes');

type Manifest = { file: string; doc: { kind?: string; metadata?: { name?: string } } & Record<string, unknown> };

function manifests(): Manifest[] {
  return fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(fs.readFileSync(path.join(DIR, file), 'utf8')).map((d) => {
        assert.deepEqual(d.errors, [], `${file} is not valid YAML`);
        return { file, doc: d.toJS() };
      }),
    );
}

const TYPES: Record<string, [string, string]> = {
  Job: ['Job', 'kubernetes-types/batch/v1.js'],
  PersistentVolumeClaim: ['PersistentVolumeClaim', 'kubernetes-types/core/v1.js'],
};

/** The compiler's complaints about each document, typed by its kind (an object literal: unknown fields are errors). */
function typeErrors(docs: Manifest[]): string[][] {
  const file = path.join(DIR, '__manifests_check__.ts');
  const lines = Object.values(TYPES).map(([t, from]) => `import type { ${t} } from '${from}';`);
  docs.forEach(({ file: f, doc }, i) => {
    const type = TYPES[doc.kind ?? ''];
    assert.ok(type, `${f}: kind ${doc.kind} has no type to check it against here; add it to TYPES`);
    lines.push(`// ${f}`, `export const doc${i}: ${type[0]} = ${JSON.stringify(doc, null, 2)};`);
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const errors: string[][] = docs.map(() => []);
  const other: string[] = [];
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    // Which document: the last `export const docN` before the error.
    const before = d.file?.fileName === file && d.start !== undefined ? source.slice(0, d.start) : '';
    const n = [...before.matchAll(/export const doc(\d+)/g)].pop()?.[1];
    if (n === undefined) other.push(text);
    else errors[Number(n)].push(text);
  }
  assert.deepEqual(other, [], 'the check itself compiles');
  return errors;
}

const valueAfter = (args: readonly string[], flag: string) => args[args.indexOf(flag) + 1];

test('the Kubernetes manifests type-check against kubernetes-types, and a misspelled field would not', () => {
  const docs = manifests();
  assert.deepEqual(docs.map((d) => `${d.file}:${d.doc.kind}`).sort(), [
    'extract-job.yaml:Job',
    'merge-train-job.yaml:Job',
    'volume.yaml:PersistentVolumeClaim',
  ]);
  // The check has teeth: a typo in a field name, or a string where a number goes, is reported.
  const extract = docs.find((d) => d.doc.metadata?.name === 'tlkit-extract')!;
  const mutated = (change: (spec: Record<string, unknown>) => void): Manifest => {
    const copy = structuredClone(extract);
    change((copy.doc as Job).spec as unknown as Record<string, unknown>);
    return copy;
  };
  const typo = mutated((spec) => {
    spec.completionMod = spec.completionMode;
    delete spec.completionMode;
  });
  const notANumber = mutated((spec) => {
    spec.parallelism = 'four';
  });
  const errors = typeErrors([...docs, typo, notANumber]);
  assert.deepEqual(
    errors.slice(0, docs.length),
    docs.map(() => []),
  );
  assert.match(errors[docs.length].join('\n'), /'"?completionMod"?' does not exist in type 'JobSpec'/);
  assert.match(errors[docs.length + 1].join('\n'), /'string' is not assignable to type 'number'/);
});

test('the Indexed Job shards as tlkit expects: completions = --shards, --shard auto, one ReadWriteMany volume shared with the merge', () => {
  const docs = manifests();
  const byName = new Map(docs.map((d) => [d.doc.metadata?.name, d.doc]));
  const extract = byName.get('tlkit-extract') as Job;
  const merge = byName.get('tlkit-merge-train') as Job;
  const volume = byName.get('tlkit-work') as PersistentVolumeClaim;
  assert.ok(extract && merge && volume);
  const spec = extract.spec!;
  assert.equal(spec.completionMode, 'Indexed');
  const pod = spec.template.spec!;
  const args = pod.containers[0].args!;
  assert.equal(valueAfter(args, '--shard'), 'auto');
  assert.equal(Number(valueAfter(args, '--shards')), spec.completions, '--shards must equal completions (Kubernetes does not export it)');
  assert.ok((spec.parallelism ?? 1) <= spec.completions!);
  // Per-index retries need restartPolicy Never.
  assert.equal(pod.restartPolicy, 'Never');
  assert.ok(spec.backoffLimitPerIndex !== undefined);

  // One claim, ReadWriteMany, mounted by the shards and by the merge at paths that hold --data and --out.
  assert.ok(volume.spec!.accessModes!.includes('ReadWriteMany'));
  const mountOf = (j: Job) => {
    const podSpec = j.spec!.template.spec!;
    const claims = podSpec.volumes!.filter((v) => v.persistentVolumeClaim?.claimName === volume.metadata!.name);
    assert.equal(claims.length, 1, `${j.metadata!.name} mounts the claim ${volume.metadata!.name}`);
    const mounts = [...(podSpec.initContainers ?? []), ...podSpec.containers].map(
      (c) => c.volumeMounts!.find((m) => m.name === claims[0].name)!.mountPath,
    );
    return { podSpec, mounts };
  };
  const shards = mountOf(extract);
  const merged = mountOf(merge);
  const out = valueAfter(args, '--out');
  const under = (p: string, mount: string) => p === mount || p.startsWith(`${mount}/`);
  assert.ok(under(out, shards.mounts[0]) && under(valueAfter(args, '--data'), shards.mounts[0]));
  const [mergeStep] = merged.podSpec.initContainers!;
  assert.deepEqual(mergeStep.args, ['merge', out], 'the merge reads the folder the shards write');
  const trainArgs = merged.podSpec.containers[0].args!;
  assert.equal(valueAfter(trainArgs, '--cache-dir'), out, 'training reads the merged cache');
  assert.equal(valueAfter(trainArgs, '--data'), valueAfter(args, '--data'));
  for (const m of merged.mounts) assert.ok(under(out, m));
});

test('the Dockerfile builds from the official Node 20 slim image and installs with npm ci --omit=dev', () => {
  const text = fs.readFileSync(path.join(DIR, 'Dockerfile'), 'utf8');
  const stages = text.split('\n').filter((l) => /^FROM /.test(l));
  assert.ok(
    stages.every((l) => /^FROM node:20-slim\b/.test(l)),
    stages.join('; '),
  );
  const last = text.slice(text.lastIndexOf('\nFROM '));
  assert.match(last, /^RUN npm ci --omit=dev\b/m);
  assert.match(last, /^ENTRYPOINT \["tlkit"\]/m);
  // What the image copies exists in the repository.
  for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
    for (const p of m[1].split(' ')) assert.ok(fs.existsSync(path.join(repoRoot, p)), p);
});

test("the Indexed Job's environment drives --shard auto: JOB_COMPLETION_INDEX with the manifest's --shards", () => {
  const job = manifests().find((d) => d.doc.metadata?.name === 'tlkit-extract')!.doc as Job;
  const args = [...job.spec!.template.spec!.containers[0].args!];
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-k8s-'));
  const data = linkedPhotoData(path.join(root, 'data'), 4, ['train']);
  // The pod's command line, with this machine's paths and the offline base at a small size.
  const set = (flag: string, value: string) => (args[args.indexOf(flag) + 1] = value);
  set('--data', data);
  set('--out', path.join(root, 'features'));
  set('--base', SHARED_MOBILENET);
  set('--image-size', '64');
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/tlkit.js'), ...args, '--json'], {
    encoding: 'utf8',
    env: { ...process.env, JOB_COMPLETION_INDEX: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /shard 1 of 4 \(Kubernetes \(JOB_COMPLETION_INDEX=1, --shards 4\)\)/);
  assert.deepEqual(fs.readdirSync(path.join(root, 'features')), ['shard-1-of-4']);
  const meta = JSON.parse(fs.readFileSync(path.join(root, 'features/shard-1-of-4/train/meta.json'), 'utf8'));
  const all = ['cats', 'dogs'].flatMap((c) => fs.readdirSync(path.join(data, 'train', c)).map((f) => `train/${c}/${f}`));
  assert.deepEqual(
    meta.files,
    all.filter((f) => shardOf(f, 4) === 1),
  );
  assert.ok(meta.files.length > 0 && meta.files.length < all.length);
  // Without --shards the count is unknown: exit 2 naming the variable.
  const noCount = spawnSync(
    process.execPath,
    [path.join(repoRoot, 'bin/tlkit.js'), ...args.filter((a, i) => a !== '--shards' && args[i - 1] !== '--shards')],
    {
      encoding: 'utf8',
      env: { ...process.env, JOB_COMPLETION_INDEX: '1' },
    },
  );
  assert.equal(noCount.status, 2);
  assert.match(noCount.stderr, /JOB_COMPLETION_INDEX.*--shards N/);
});
