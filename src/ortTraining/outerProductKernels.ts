import { op, ValueType, type Bytes, type FunctionSpec } from './wasmAssembler.js';

/**
 * The update of the head's hidden kernel with its gradient computed inside the update,
 * row by row, as WebAssembly SIMD functions (assembled with the update kernels).
 *
 * Why: the hidden kernel's gradient P^T dA (P the flattened features [N, D], dA the
 * gradient of the hidden layer's pre-activation [N, U]) is as big as the kernel (7x7x1024
 * x 256 = 12.8 M floats for MobileNet). Output by the graph, onnxruntime-node copies it
 * into a fresh JavaScript buffer on every step, which cost more than the step's two
 * matrix products (bench/head.ts). The graph outputs dA instead, and for each row i of
 * the kernel these functions form g_i = sum_n P[n, i] dA[n, :] in a 1 KB row buffer and
 * hand it to the rule's own kernel (same float32 operations as the graph's update), so
 * no gradient array exists at all. Samples whose feature is 0 (ReLU features are mostly
 * 0) are skipped: their terms are exact zeros. The sum runs over the samples in order,
 * so it differs from ONNX Runtime's Gemm only in rounding (the test bounds it).
 *
 * outer_<rule>(w, slots..., x, dA, list, row, rows, rowBytes, n, xRowBytes, scalars...):
 *   w, slots  the kernel [rows, U] and the rule's slots of the same shape (updated in place)
 *   x         the features, row-major [n, rows] (xRowBytes apart)
 *   dA        the graph's gradient output [n, U]
 *   list      scratch, 32 bytes a sample: the sample's feature splatted, its dA row's address
 *   row       scratch, rowBytes: the gradient's row
 * rowBytes must be a multiple of 128 (U a multiple of 32): eight accumulators a pass.
 */

export type RuleKind = 'rmsprop' | 'adam' | 'adamw' | 'sgd';

/** The slots each rule keeps per weight, and the scalars its kernel takes (updateKernels.ts). */
export const RULE_SLOTS: Record<RuleKind, number> = { rmsprop: 1, adam: 2, adamw: 2, sgd: 0 };
export const RULE_SCALARS: Record<RuleKind, number> = { rmsprop: 4, adam: 8, adamw: 9, sgd: 1 };
/** Columns summed per pass (eight 4-float accumulators). */
export const OUTER_COLUMNS = 32;

export function outerProductKernel(rule: RuleKind, ruleFunction: number): FunctionSpec {
  const slots = RULE_SLOTS[rule];
  const scalars = RULE_SCALARS[rule];
  // Parameters.
  const W = 0;
  const slot = (j: number) => 1 + j;
  const [X, DA, LIST, ROW, ROWS, ROW_BYTES, N, X_ROW_BYTES] = Array.from({ length: 8 }, (_, j) => 1 + slots + j);
  const scalar = (j: number) => 9 + slots + j;
  // Locals.
  const first = 9 + slots + scalars;
  const [I, CNT, C, K, K_END, R, XP, DP, LEFT] = Array.from({ length: 9 }, (_, j) => first + j);
  const P = first + 9;
  const S = first + 10;
  const acc = (j: number) => first + 11 + j;
  const get = op.localGet;
  const set = op.localSet;
  const addTo = (local: number, bytes: Bytes): Bytes => [...get(local), ...bytes, ...op.i32Add, ...set(local)];
  const whileLoop = (stop: Bytes, body: Bytes): Bytes => [
    ...op.block,
    ...op.loop,
    ...stop,
    ...op.brIf(1),
    ...body,
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];

  // The samples whose feature i is not 0: (splat(P[n, i]), &dA[n, 0]) in `list`; CNT = 32 x their count.
  const gather = [
    ...op.i32Const(0),
    ...set(CNT),
    ...get(XP),
    ...set(R),
    ...get(DA),
    ...set(DP),
    ...get(N),
    ...set(LEFT),
    ...whileLoop(
      [...get(LEFT), ...op.i32Eqz],
      [
        ...get(R),
        ...op.f32Load,
        ...op.localTee(P),
        ...op.f32Const(0),
        ...op.f32Ne,
        ...op.if,
        ...[...get(LIST), ...get(CNT), ...op.i32Add, ...get(P), ...op.f32x4Splat, ...op.v128Store],
        ...[...get(LIST), ...get(CNT), ...op.i32Add, ...get(DP), ...op.i32Store(16)],
        ...addTo(CNT, op.i32Const(32)),
        ...op.end,
        ...addTo(R, get(X_ROW_BYTES)),
        ...addTo(DP, get(ROW_BYTES)),
        ...[...get(LEFT), ...op.i32Const(1), ...op.i32Sub, ...set(LEFT)],
      ],
    ),
  ];
  // row[c .. c + 32) = sum over the list of splat(P[n, i]) * dA[n, c .. c + 32), for each block of 32 columns.
  const accumulate = Array.from({ length: 8 }, (_, j) => [
    ...get(acc(j)),
    ...get(S),
    ...get(R),
    ...op.v128LoadAt(16 * j),
    ...op.f32x4Mul,
    ...op.f32x4Add,
    ...set(acc(j)),
  ]).flat();
  const sums = [
    ...op.i32Const(0),
    ...set(C),
    ...whileLoop(
      [...get(C), ...get(ROW_BYTES), ...op.i32GeU],
      [
        ...Array.from({ length: 8 }, (_, j) => [...op.v128Zero, ...set(acc(j))]).flat(),
        ...get(LIST),
        ...set(K),
        ...[...get(LIST), ...get(CNT), ...op.i32Add, ...set(K_END)],
        ...whileLoop(
          [...get(K), ...get(K_END), ...op.i32GeU],
          [
            ...[...get(K), ...op.v128Load, ...set(S)],
            ...[...get(K), ...op.i32LoadAt(16), ...get(C), ...op.i32Add, ...set(R)],
            ...accumulate,
            ...addTo(K, op.i32Const(32)),
          ],
        ),
        ...Array.from({ length: 8 }, (_, j) => [...get(ROW), ...get(C), ...op.i32Add, ...get(acc(j)), ...op.v128StoreAt(16 * j)]).flat(),
        ...addTo(C, op.i32Const(128)),
      ],
    ),
  ];
  // The rule's kernel over the row: (w, g = row, slots..., end, scalars...).
  const update = [
    ...get(W),
    ...get(ROW),
    ...Array.from({ length: slots }, (_, j) => get(slot(j))).flat(),
    ...[...get(W), ...get(ROW_BYTES), ...op.i32Add],
    ...Array.from({ length: scalars }, (_, j) => get(scalar(j))).flat(),
    ...op.call(ruleFunction),
  ];
  const next = [
    ...addTo(W, get(ROW_BYTES)),
    ...Array.from({ length: slots }, (_, j) => addTo(slot(j), get(ROW_BYTES))).flat(),
    ...addTo(XP, op.i32Const(4)),
    ...addTo(I, op.i32Const(1)),
  ];
  return {
    name: `outer_${rule}`,
    params: [...Array(1 + slots + 8).fill(ValueType.i32), ...Array(scalars).fill(ValueType.f32)],
    locals: [...Array(9).fill(ValueType.i32), ValueType.f32, ...Array(9).fill(ValueType.v128)],
    body: [...get(X), ...set(XP), ...whileLoop([...get(I), ...get(ROWS), ...op.i32GeU], [...gather, ...sums, ...update, ...next])],
  };
}
