import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { model as tflModel } from '@tensorflow/tfjs-layers';
import { OrtModel } from './ortRunner.js';
import { exportToOnnx, type ExportOptions } from '../onnx/export.js';

export interface ParityResult {
  maxAbsDiff: number;
  maxAbsOutput: number;
  /** maxAbsDiff / maxAbsOutput: the design's bar is <= 1e-4. */
  relative: number;
  shape: number[];
}

/**
 * Run `model` (cut at `upTo`) on tfjs and, exported, on ONNX Runtime, over the
 * same NHWC input; report how far apart the outputs are.
 */
export async function checkParity(model: tfl.LayersModel, input: tf.Tensor, opts: ExportOptions = {}): Promise<ParityResult> {
  const ort = await OrtModel.create(exportToOnnx(model, opts));
  try {
    const got = await ort.run(new Float32Array(input.dataSync() as Float32Array), input.shape);
    const expected = tfjsOutput(model, input, opts.upTo);
    if (expected.shape.join() !== got.shape.join()) {
      throw new Error(`shape mismatch: tfjs ${JSON.stringify(expected.shape)} vs ONNX ${JSON.stringify(got.shape)}`);
    }
    let maxAbsDiff = 0;
    let maxAbsOutput = 0;
    for (let i = 0; i < got.data.length; i++) {
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(got.data[i] - expected.data[i]));
      maxAbsOutput = Math.max(maxAbsOutput, Math.abs(expected.data[i]));
    }
    if (Number.isNaN(maxAbsDiff) || got.data.some(Number.isNaN)) maxAbsDiff = Infinity;
    return { maxAbsDiff, maxAbsOutput, relative: maxAbsDiff / (maxAbsOutput || 1), shape: got.shape };
  } finally {
    await ort.dispose();
  }
}

function tfjsOutput(model: tfl.LayersModel, input: tf.Tensor, upTo?: string): { data: Float32Array; shape: number[] } {
  const reference = upTo === undefined ? model : subModel(model, upTo);
  // The tensor leaves tidy, the values are read after: tidy walks whatever it returns,
  // a typed array index by index (seconds for a large feature map).
  const out = tf.tidy(() => reference.predict(input) as tf.Tensor);
  try {
    return { data: new Float32Array(out.dataSync() as Float32Array), shape: out.shape.slice() };
  } finally {
    out.dispose();
  }
}

/** The tfjs reference for a cut: a model sharing the layers, from the input to layer `upTo` (top level only). */
function subModel(model: tfl.LayersModel, upTo: string): tfl.LayersModel {
  const layer = model.getLayer(upTo);
  // A nested model has a node of its own plus the call inside `model`: the last one is that call.
  const calls = (layer as unknown as { inboundNodes: unknown[] }).inboundNodes.length;
  return tflModel({ inputs: model.inputs, outputs: layer.getOutputAt(calls - 1) as tfl.SymbolicTensor });
}
