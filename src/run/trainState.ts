import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeDirAtomic } from '../io/atomicWrite.js';
import { runPaths } from './paths.js';

// What --resume continues from: the trainable weights and the optimizer's state
// (RMSprop's moving averages, Adam's moments, the iteration count) after the last
// finished epoch. The best checkpoint (model/) is not enough: it may be epochs older,
// and it holds no optimizer state. Stored engine-neutral (named arrays), replaced
// whole after every epoch.

export interface NamedArray {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

export interface TrainState {
  /** Epochs finished when the state was saved (the next epoch to run, 0-based). */
  epoch: number;
  /** Which training phase the weights belong to (finetune runs have a head phase first). */
  phase: string;
  weights: NamedArray[];
  optimizer: NamedArray[];
}

const INDEX = 'state.json';
const DATA = 'tensors.bin';

interface Index {
  epoch: number;
  phase: string;
  tensors: Array<{
    group: 'weights' | 'optimizer';
    name: string;
    shape: number[];
    dtype: 'float32' | 'int32';
    offset: number;
    length: number;
  }>;
}

export async function saveTrainState(runDir: string, state: TrainState): Promise<void> {
  const index: Index = { epoch: state.epoch, phase: state.phase, tensors: [] };
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const group of ['weights', 'optimizer'] as const) {
    for (const t of state[group]) {
      const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      index.tensors.push({ group, name: t.name, shape: t.shape, dtype: t.dtype, offset, length: t.data.length });
      parts.push(bytes);
      offset += bytes.byteLength;
    }
  }
  await writeDirAtomic(runPaths(runDir).state, async (tmp) => {
    // Tensor by tensor: a head's state is tens of MB, not worth a joined copy every epoch.
    const fh = await fsp.open(path.join(tmp, DATA), 'w');
    try {
      for (const p of parts) await fh.writeFile(p);
    } finally {
      await fh.close();
    }
    await fsp.writeFile(path.join(tmp, INDEX), `${JSON.stringify(index)}\n`);
  });
}

/** The saved state, or undefined when the run has none (or an unreadable one). */
export async function loadTrainState(runDir: string): Promise<TrainState | undefined> {
  const dir = runPaths(runDir).state;
  if (!existsSync(path.join(dir, INDEX))) return undefined;
  let index: Index;
  let data: Buffer;
  try {
    index = JSON.parse(await fsp.readFile(path.join(dir, INDEX), 'utf8')) as Index;
    data = await fsp.readFile(path.join(dir, DATA));
  } catch {
    return undefined;
  }
  const state: TrainState = { epoch: index.epoch, phase: index.phase, weights: [], optimizer: [] };
  for (const t of index.tensors) {
    const bytes = data.subarray(t.offset, t.offset + t.length * 4);
    if (bytes.byteLength !== t.length * 4) return undefined;
    const copy = new Uint8Array(bytes).buffer;
    state[t.group].push({
      name: t.name,
      shape: t.shape,
      dtype: t.dtype,
      data: t.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy),
    });
  }
  return state;
}
