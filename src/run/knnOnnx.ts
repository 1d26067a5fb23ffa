import type * as tfl from '@tensorflow/tfjs-layers';
import { buildOnnxModel } from '../onnx/export.js';
import { makeNode, makeTensor, makeValueInfo, type IModelProto, type INodeProto, type ITensorProto } from '../onnx/proto.js';
import { knnIndexCount, type KnnIndex } from './knnIndex.js';
import { VOTE_FLOOR } from './knnVotes.js';

// A kNN run as one ONNX graph, RGB 0..255 NHWC in and class probabilities out, what
// predict, evaluate and report run and `tlkit export --format onnx` writes:
//   base (preprocessing + conv base, model/) -> mean over space -> x / |x|
//   -> MatMul with the stored vectors (an initializer, [dim, count]) = cosine similarities
//   -> TopK(k) -> each neighbour's weight max(similarity, 0) + VOTE_FLOOR
//   -> Gather of the neighbours' one-hot labels, weighted, summed -> votes / their sum.
// knnVotes.ts computes the same in TypeScript (the tests compare the two).

const FEATURES = 'knn/base_features';
const OUTPUT = 'output';

/** The graph of a kNN run: `base` (model/: RGB in, feature map out) followed by the vote over `index`. */
export function knnOnnxModel(base: tfl.LayersModel, index: KnnIndex, k: number): IModelProto {
  const built = buildOnnxModel(base, { outputName: FEATURES });
  const graph = built.model.graph!;
  const count = knnIndexCount(index);
  const { dim } = index;
  const classes = index.classes.length;
  const rank = built.outputShape.length;
  if (built.outputShape[rank - 1] !== dim)
    throw new Error(`knnOnnxModel: the base gives ${built.outputShape[rank - 1]} channels, the index stores ${dim}`);
  if (count === 0) throw new Error('knnOnnxModel: the index stores no images');

  const nodes: INodeProto[] = [];
  const constants: ITensorProto[] = [];
  const op = (type: string, inputs: string[], name: string, attrs: Record<string, number | number[]> = {}, outputs = [name]) => {
    nodes.push(makeNode(type, inputs, outputs, `${name}/${type}`, attrs));
    return outputs[0];
  };
  const constant = (name: string, dims: number[], data: Float32Array | BigInt64Array) => {
    constants.push(makeTensor(name, dims, data));
    return name;
  };

  // Every position of the map (all axes between batch and channels) averaged, as poolFeatureMap does.
  const spatial = Array.from({ length: rank - 2 }, (_, i) => i + 1);
  const pooled = spatial.length > 0 ? op('ReduceMean', [FEATURES], 'knn/pooled', { axes: spatial, keepdims: 0 }) : FEATURES;
  const squares = op('Mul', [pooled, pooled], 'knn/squares');
  const sum = op('ReduceSum', [squares, constant('knn/channel_axis', [1], BigInt64Array.of(1n))], 'knn/sum_squares', { keepdims: 1 });
  const norm = op('Sqrt', [sum], 'knn/norm');
  // An all-zero vector stays zero (0 / tiny), as in poolFeatureMap.
  const safe = op('Max', [norm, constant('knn/tiny', [], Float32Array.of(1e-30))], 'knn/norm_safe');
  const unit = op('Div', [pooled, safe], 'knn/unit');

  const transposed = new Float32Array(dim * count);
  for (let i = 0; i < count; i++) for (let c = 0; c < dim; c++) transposed[c * count + i] = index.vectors[i * dim + c];
  const similarity = op('MatMul', [unit, constant('knn/stored_vectors', [dim, count], transposed)], 'knn/similarity');
  const kUsed = Math.min(k, count);
  const [values, indices] = ['knn/nearest_similarity', 'knn/nearest_index'];
  op('TopK', [similarity, constant('knn/k', [1], BigInt64Array.of(BigInt(kUsed)))], 'knn/nearest', { axis: 1, largest: 1, sorted: 1 }, [
    values,
    indices,
  ]);
  const weight = op(
    'Add',
    [op('Relu', [values], 'knn/positive'), constant('knn/vote_floor', [], Float32Array.of(VOTE_FLOOR))],
    'knn/weight',
  );

  const oneHot = new Float32Array(count * classes);
  for (let i = 0; i < count; i++) oneHot[i * classes + index.labels[i]] = 1;
  const neighbourClasses = op('Gather', [constant('knn/stored_labels', [count, classes], oneHot), indices], 'knn/neighbour_classes', {
    axis: 0,
  });
  const weight3 = op('Unsqueeze', [weight, constant('knn/vote_axis', [1], BigInt64Array.of(2n))], 'knn/weight_column');
  const weighted = op('Mul', [neighbourClasses, weight3], 'knn/weighted');
  const votes = op('ReduceSum', [weighted, constant('knn/neighbour_axis', [1], BigInt64Array.of(1n))], 'knn/votes', { keepdims: 0 });
  const total = op('ReduceSum', [votes, constant('knn/class_axis', [1], BigInt64Array.of(1n))], 'knn/total', { keepdims: 1 });
  op('Div', [votes, total], OUTPUT);

  graph.node = [...(graph.node ?? []), ...nodes];
  graph.initializer = [...(graph.initializer ?? []), ...constants];
  graph.output = [makeValueInfo(OUTPUT, [null, classes])];
  return built.model;
}
