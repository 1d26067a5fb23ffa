import { OUTER_COLUMNS, outerProductKernel, RULE_SLOTS } from './outerProductKernels.js';
import { assembleModule, op, ValueType, type Bytes, type FunctionSpec } from './wasmAssembler.js';
import type { OptimizerSpec, StepValues } from './trainingOps.js';

/**
 * The optimizer's update as one WebAssembly SIMD loop per tensor, over arrays that
 * live in the kernels' own memory (an arena): the weights, their gradients (ONNX
 * Runtime writes them there) and the optimizer's slots.
 *
 * Why: in an ONNX graph the update is nine elementwise ops, each a pass over the
 * whole tensor; for the book's head (a 12800x256 kernel) that took longer than both
 * of its matrix products (bench/head.ts). One fused pass reads and writes each array
 * once. Every operation is float32 and rounded like the graph's own ops, in the same
 * order, so the result is the graph's to the bit (updateKernels.test.ts):
 *   RMSprop (Keras): v <- rho v + (1 - rho) g^2;  w <- w - lr g / sqrt(v + eps)
 *   Adam (tfjs):     m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  w <- w + (-lr) (m / c1) / (sqrt(v / c2) + eps)
 *   AdamW:           w <- w - (lr wd) w, then Adam's update
 *   SGD (tfjs):      w <- (-lr) g + w
 * The rates are arguments of every call, so a schedule changes them between batches for free.
 * Each array is padded to whole 4-float vectors; the loops update the padding too,
 * which nothing reads (gradients there stay 0).
 */

interface KernelShape {
  name: string;
  /** Arrays walked together, 16 bytes per iteration. */
  arrays: string[];
  /** f32 arguments, splatted to all four lanes before the loop. */
  scalars: string[];
  /** v128 temporaries. */
  temps: string[];
  /** One iteration, given accessors for the current vectors. */
  body: (k: KernelContext) => Bytes;
}

interface KernelContext {
  load(array: string): Bytes;
  store(array: string, value: Bytes): Bytes;
  scalar(name: string): Bytes;
  get(temp: string): Bytes;
  set(temp: string, value: Bytes): Bytes;
  tee(temp: string, value: Bytes): Bytes;
}

/** A function (ptr per array, end = first array's end in bytes, scalars) looping over whole vectors. */
function kernel(s: KernelShape): FunctionSpec {
  const a = s.arrays.length;
  const end = a;
  const scalarParam = (i: number) => a + 1 + i;
  const splatLocal = (i: number) => a + 1 + s.scalars.length + i;
  const tempLocal = (i: number) => a + 1 + 2 * s.scalars.length + i;
  const index = (list: string[], n: string) => {
    const i = list.indexOf(n);
    if (i < 0) throw new Error(`kernel ${s.name}: no ${n}`);
    return i;
  };
  const k: KernelContext = {
    load: (array) => [...op.localGet(index(s.arrays, array)), ...op.v128Load],
    store: (array, value) => [...op.localGet(index(s.arrays, array)), ...value, ...op.v128Store],
    scalar: (n) => op.localGet(splatLocal(index(s.scalars, n))),
    get: (t) => op.localGet(tempLocal(index(s.temps, t))),
    set: (t, value) => [...value, ...op.localSet(tempLocal(index(s.temps, t)))],
    tee: (t, value) => [...value, ...op.localTee(tempLocal(index(s.temps, t)))],
  };
  const splats = s.scalars.flatMap((_, i) => [...op.localGet(scalarParam(i)), ...op.f32x4Splat, ...op.localSet(splatLocal(i))]);
  const advance = s.arrays.flatMap((_, i) => [...op.localGet(i), ...op.i32Const(16), ...op.i32Add, ...op.localSet(i)]);
  const body = [
    ...splats,
    ...op.block,
    ...[...op.localGet(0), ...op.localGet(end), ...op.i32GeU, ...op.brIf(0)],
    ...op.loop,
    ...s.body(k),
    ...advance,
    ...[...op.localGet(0), ...op.localGet(end), ...op.i32LtU, ...op.brIf(0)],
    ...op.end,
    ...op.end,
  ];
  return {
    name: s.name,
    params: [...s.arrays.map(() => ValueType.i32), ValueType.i32, ...s.scalars.map(() => ValueType.f32)],
    locals: [...s.scalars.map(() => ValueType.v128), ...s.temps.map(() => ValueType.v128)],
    body,
  };
}

const { f32x4Add: add, f32x4Sub: sub, f32x4Mul: mul, f32x4Div: div, f32x4Sqrt: sqrt } = op;

/** Adam's update; AdamW's first decays the weight (w - w decay) and adds the step to that. */
function adamKernel(name: string, decoupledDecay: boolean): FunctionSpec {
  return kernel({
    name,
    arrays: ['w', 'g', 'm', 'v'],
    scalars: ['minusLr', 'beta1', 'keep1', 'beta2', 'keep2', 'eps', 'c1', 'c2', ...(decoupledDecay ? ['decay'] : [])],
    temps: ['g', 'm', 'v'],
    body: (k) => {
      const w = decoupledDecay ? [...k.load('w'), ...k.load('w'), ...k.scalar('decay'), ...mul, ...sub] : k.load('w');
      return [
        ...k.set('g', k.load('g')),
        // m = m b1 + g (1 - b1); v = v b2 + (g g) (1 - b2)
        ...k.store('m', k.tee('m', [...k.load('m'), ...k.scalar('beta1'), ...mul, ...k.get('g'), ...k.scalar('keep1'), ...mul, ...add])),
        ...k.store(
          'v',
          k.tee('v', [
            ...k.load('v'),
            ...k.scalar('beta2'),
            ...mul,
            ...k.get('g'),
            ...k.get('g'),
            ...mul,
            ...k.scalar('keep2'),
            ...mul,
            ...add,
          ]),
        ),
        // w = ((m / c1) / (sqrt(v / c2) + eps)) (-lr) + w
        ...k.store('w', [
          ...[...k.get('m'), ...k.scalar('c1'), ...div],
          ...[...k.get('v'), ...k.scalar('c2'), ...div, ...sqrt, ...k.scalar('eps'), ...add],
          ...div,
          ...k.scalar('minusLr'),
          ...mul,
          ...w,
          ...add,
        ]),
      ];
    },
  });
}

const KERNELS: FunctionSpec[] = [
  kernel({
    name: 'rmsprop',
    arrays: ['w', 'g', 'v'],
    scalars: ['lr', 'rho', 'keep', 'eps'],
    temps: ['g', 'v'],
    body: (k) => [
      ...k.set('g', k.load('g')),
      // v = v rho + (g g) keep
      ...k.store(
        'v',
        k.tee('v', [...k.load('v'), ...k.scalar('rho'), ...mul, ...k.get('g'), ...k.get('g'), ...mul, ...k.scalar('keep'), ...mul, ...add]),
      ),
      // w = w - (g lr) / sqrt(v + eps)
      ...k.store('w', [
        ...k.load('w'),
        ...k.get('g'),
        ...k.scalar('lr'),
        ...mul,
        ...k.get('v'),
        ...k.scalar('eps'),
        ...add,
        ...sqrt,
        ...div,
        ...sub,
      ]),
    ],
  }),
  adamKernel('adam', false),
  adamKernel('adamw', true),
  kernel({
    name: 'sgd',
    arrays: ['w', 'g'],
    scalars: ['minusLr'],
    temps: [],
    // w = (-lr) g + w
    body: (k) => k.store('w', [...k.scalar('minusLr'), ...k.load('g'), ...mul, ...k.load('w'), ...add]),
  }),
];
// The hidden kernel's updates with its gradient formed row by row (outerProductKernels.ts); each calls its rule's function above.
KERNELS.push(...(['rmsprop', 'adam', 'adamw', 'sgd'] as const).map((rule, i) => outerProductKernel(rule, i)));

let compiled: WebAssembly.Module | undefined;

type Exports = {
  rmsprop(w: number, g: number, v: number, end: number, lr: number, rho: number, keep: number, eps: number): void;
  adam(
    w: number,
    g: number,
    m: number,
    v: number,
    end: number,
    minusLr: number,
    beta1: number,
    keep1: number,
    beta2: number,
    keep2: number,
    eps: number,
    c1: number,
    c2: number,
  ): void;
  adamw(
    w: number,
    g: number,
    m: number,
    v: number,
    end: number,
    minusLr: number,
    beta1: number,
    keep1: number,
    beta2: number,
    keep2: number,
    eps: number,
    c1: number,
    c2: number,
    decay: number,
  ): void;
  sgd(w: number, g: number, end: number, minusLr: number): void;
} & Record<`outer_${OptimizerSpec['kind']}`, (...args: number[]) => void>;

/** Where the outer-product update finds its operands in the arena (offsets in bytes). */
interface OuterScratch {
  x: Float32Array;
  dA: Float32Array;
  list: number;
  row: number;
}

const PAGE = 65536;
const VECTOR = 4;
/** The arena's upper bound: a wasm32 memory addresses 4 GiB; beyond 2 GiB the graph updates instead. */
export const MAX_ARENA_BYTES = 2 ** 31;

const padded = (n: number) => Math.ceil(n / VECTOR) * VECTOR;

/** Whether arrays of these lengths fit one arena. */
export function arenaFits(lengths: number[]): boolean {
  return lengths.reduce((a, n) => a + padded(n) * 4, 0) <= MAX_ARENA_BYTES;
}

/**
 * Arrays of the given lengths in one WebAssembly memory, zeroed, and the update
 * kernels over them. ONNX Runtime reads and writes the arrays in place (they are
 * ordinary Float32Arrays over the memory's buffer). The memory grows only when the
 * outer-product update needs more scratch for a bigger batch; `arrays` are then new
 * views of the same values (`generation` counts the moves).
 */
export class UpdateKernels {
  arrays: Float32Array[];
  generation = 0;
  private readonly kernels: Exports;
  private readonly memory: WebAssembly.Memory;
  private readonly offsets: number[] = [];
  private readonly end: number;
  private scratch: (OuterScratch & { samples: number; d: number; u: number }) | undefined;

  constructor(private readonly lengths: number[]) {
    if (!arenaFits(lengths))
      throw new RangeError(`update kernels: ${lengths.length} arrays need more than ${MAX_ARENA_BYTES / 2 ** 30} GiB`);
    let offset = 0;
    for (const n of lengths) {
      this.offsets.push(offset);
      offset += padded(n) * 4;
    }
    this.end = offset;
    this.memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(offset / PAGE)) });
    compiled ??= new WebAssembly.Module(assembleModule(KERNELS));
    this.kernels = new WebAssembly.Instance(compiled, { env: { memory: this.memory } }).exports as unknown as Exports;
    this.arrays = this.views();
  }

  private views(): Float32Array[] {
    return this.lengths.map((n, i) => new Float32Array(this.memory.buffer, this.offsets[i], n));
  }

  private offsetOf(a: Float32Array): number {
    if (a.buffer !== this.memory.buffer) throw new Error('update kernels: an array that is not in the arena');
    return a.byteOffset;
  }

  /**
   * Scratch after the arrays for the outer-product update of a batch of `samples`: the
   * features [samples, d], the graph's dA [samples, u], the sample list and the row.
   * Grows the memory when a batch is bigger than any before (then `arrays` are new views).
   */
  outerScratch(samples: number, d: number, u: number): OuterScratch {
    const s = this.scratch;
    if (s && s.samples === samples && s.d === d && s.u === u) return s;
    const x = this.end;
    const dA = x + padded(samples * d) * 4;
    const list = dA + padded(samples * u) * 4;
    const row = list + samples * 32;
    const bytes = row + u * 4;
    if (bytes > MAX_ARENA_BYTES)
      throw new RangeError(`update kernels: a batch of ${samples} needs more than ${MAX_ARENA_BYTES / 2 ** 30} GiB`);
    const pages = Math.ceil(bytes / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (pages > 0) {
      this.memory.grow(pages);
      this.arrays = this.views();
      this.generation++;
    }
    const buffer = this.memory.buffer;
    this.scratch = { x: new Float32Array(buffer, x, samples * d), dA: new Float32Array(buffer, dA, samples * u), list, row, samples, d, u };
    return this.scratch;
  }

  /**
   * Update the kernel `w` [d, u] and its `slots` with the gradient x^T dA of the batch now in
   * `outerScratch(samples, d, u)` (outerProductKernels.ts); u must be a multiple of OUTER_COLUMNS.
   */
  updateOuter(
    o: OptimizerSpec,
    p: number,
    w: Float32Array,
    slots: Float32Array[],
    samples: number,
    d: number,
    u: number,
    step: StepValues,
  ): void {
    if (u % OUTER_COLUMNS !== 0)
      throw new Error(`update kernels: the outer-product update needs units in multiples of ${OUTER_COLUMNS}, got ${u}`);
    if (slots.length !== RULE_SLOTS[o.kind])
      throw new Error(`update kernels: ${o.kind} keeps ${RULE_SLOTS[o.kind]} slots, got ${slots.length}`);
    const s = this.outerScratch(samples, d, u);
    const at = (a: Float32Array) => this.offsetOf(a);
    const operands = [at(w), ...slots.map(at), at(s.x), at(s.dA), s.list, s.row, d, u * 4, samples, d * 4];
    const f = this.kernels[`outer_${o.kind}`];
    switch (o.kind) {
      case 'rmsprop':
        return f(...operands, step.rates[p], step.momentum, step.keepMomentum, o.epsilon);
      case 'adam':
      case 'adamw': {
        const scalars = [step.rates[p], step.momentum, step.keepMomentum, o.beta2, 1 - o.beta2, o.epsilon, step.c1, step.c2];
        return f(...operands, ...scalars, ...(o.kind === 'adamw' ? [step.decays[p]] : []));
      }
      case 'sgd':
        return f(...operands, step.rates[p]);
    }
  }

  /**
   * Update `params` in place with `grads` at this step's values; `state` holds the slots as optimizerState() lists them.
   * `except`: a parameter that updateOuter updates instead.
   */
  update(o: OptimizerSpec, params: Float32Array[], grads: Float32Array[], state: Float32Array[], step: StepValues, except = -1): void {
    const at = (a: Float32Array) => this.offsetOf(a);
    params.forEach((w, p) => {
      if (p === except) return;
      const end = at(w) + padded(w.length) * 4;
      switch (o.kind) {
        case 'rmsprop':
          this.kernels.rmsprop(at(w), at(grads[p]), at(state[p]), end, step.rates[p], step.momentum, step.keepMomentum, o.epsilon);
          return;
        case 'adam':
        case 'adamw': {
          const args = [
            at(w),
            at(grads[p]),
            at(state[p]),
            at(state[params.length + p]),
            end,
            step.rates[p],
            step.momentum,
            step.keepMomentum,
            o.beta2,
            1 - o.beta2,
            o.epsilon,
            step.c1,
            step.c2,
          ] as const;
          if (o.kind === 'adamw') this.kernels.adamw(...args, step.decays[p]);
          else this.kernels.adam(...args);
          return;
        }
        case 'sgd':
          this.kernels.sgd(at(w), at(grads[p]), end, step.rates[p]);
          return;
      }
    });
  }
}
