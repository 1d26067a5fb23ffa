import { configOf, one, unsupported, weightOf, type Converter } from './types.js';

/** BatchNormalization in inference form (moving statistics) over the channel axis. */
export const batchNormalization: Converter = (b, layer, inputs, outputShapes) => {
  const cfg = configOf(layer);
  const x = one(inputs, layer);
  const rank = x.shape.length;
  const axisRaw = cfg.axis as number | number[] | undefined;
  const axis = Array.isArray(axisRaw) ? (axisRaw.length === 1 ? axisRaw[0] : NaN) : (axisRaw ?? -1);
  if (axis !== -1 && axis !== rank - 1) throw unsupported(layer, `axis ${JSON.stringify(axisRaw)} (only the channel axis, -1)`);
  if (rank !== 2 && rank !== 4) throw unsupported(layer, `an input of rank ${rank}`);
  const mean = weightOf(layer, 'moving_mean');
  const variance = weightOf(layer, 'moving_variance');
  if (!mean || !variance) throw unsupported(layer, 'a layer without moving statistics');
  const c = mean.data.length;
  const gamma = weightOf(layer, 'gamma')?.data ?? new Float32Array(c).fill(1);
  const beta = weightOf(layer, 'beta')?.data ?? new Float32Array(c);
  const epsilon = (cfg.epsilon as number | undefined) ?? 1e-3;
  // ONNX BatchNormalization wants the channels on axis 1: NCHW, or [N, C] for rank 2.
  const xin = b.asNchw(x);
  const name = b.op(
    'BatchNormalization',
    [
      xin.name,
      b.constant(`${layer.name}/gamma`, [c], gamma),
      b.constant(`${layer.name}/beta`, [c], beta),
      b.constant(`${layer.name}/mean`, [c], mean.data),
      b.constant(`${layer.name}/var`, [c], variance.data),
    ],
    layer.name,
    { epsilon: { float: epsilon } },
  );
  return [{ name, shape: outputShapes[0], nchw: xin.nchw }];
};
