import type * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../../errors.js';
import type { GraphBuilder, Value } from '../graphBuilder.js';

export type Layer = tfl.layers.Layer;
export type Shape = Array<number | null>;

/**
 * Converts one call of a tfjs layer: given the ONNX values of its inputs and the
 * Keras shapes of its outputs, emit nodes and return the output values.
 */
export type Converter = (b: GraphBuilder, layer: Layer, inputs: Value[], outputShapes: Shape[]) => Value[];

// tfjs getConfig() is camelCase and has normalised kernelSize/strides to arrays.
export function configOf(layer: Layer): Record<string, unknown> {
  return layer.getConfig() as Record<string, unknown>;
}

export function pair(v: unknown, what: string, layer: Layer): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]];
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'number') return [v[0], v[0]];
  throw unsupported(layer, `${what} ${JSON.stringify(v)} (expected a number or a pair)`);
}

export function requireChannelsLast(layer: Layer): void {
  const df = configOf(layer).dataFormat;
  if (df !== undefined && df !== 'channelsLast') throw unsupported(layer, `dataFormat '${String(df)}' (only channelsLast is exported)`);
}

export function unsupported(layer: Layer, what: string): UserError {
  return new UserError(
    `Cannot export layer '${layer.name}' (class ${layer.getClassName()}) to ONNX: ${what} is not supported. ` +
      `Cut the frozen part before this layer (upTo), or run the model on tfjs.`,
  );
}

export interface WeightValue {
  data: Float32Array;
  shape: number[];
}

/** A layer weight by its Keras short name (kernel, bias, gamma, moving_mean, ...), or undefined. */
export function weightOf(layer: Layer, shortName: string): WeightValue | undefined {
  for (const w of layer.weights) {
    const full = (w as unknown as { originalName?: string }).originalName ?? w.name;
    if (full.split('/').pop() === shortName) {
      const t = w.read();
      // A copy the converter owns (dataSync may hand back the backend's own buffer).
      return { data: Float32Array.from(t.dataSync() as Float32Array), shape: t.shape.slice() };
    }
  }
  return undefined;
}

export function requireWeight(layer: Layer, shortName: string): WeightValue {
  const w = weightOf(layer, shortName);
  if (!w)
    throw unsupported(layer, `a layer without a '${shortName}' weight (has ${layer.weights.map((x) => x.name).join(', ') || 'none'})`);
  return w;
}

export function one(inputs: Value[], layer: Layer): Value {
  if (inputs.length !== 1) throw unsupported(layer, `${inputs.length} inputs`);
  return inputs[0];
}
