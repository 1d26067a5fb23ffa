import type { RunMeta } from '../run/meta.js';
import type { Agreement } from './agreement.js';
import type { QuantizeMode } from './quantize.js';

/** Below this label agreement with the unquantized model, a quantized export warns and names a safer --quantize. */
export const AGREEMENT_WARN_BELOW = 0.99;

export const EXPORT_FORMATS = ['tfjs', 'onnx', 'tm', 'keras'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** What an exported model expects and returns, written as metadata.json (tfjs, onnx) or inside Teachable Machine's (tm). */
export interface ExportMetadata {
  exportedBy: 'tlkit';
  tlkitVersion: string;
  format: ExportFormat;
  labels: string[];
  /** [height, width] of the model's input. */
  imageSize: [number, number];
  input: {
    layout: 'NHWC';
    shape: [null, number, number, 3];
    dtype: 'float32';
    /** The model takes pixel * scale + offset of RGB 0..255 pixels (tfjs/onnx: scale 1, offset 0: raw pixels). */
    scale: number;
    offset: number;
    colors: 'RGB';
  };
  /** The preprocessing of the base, applied INSIDE the model (do not apply it again). */
  preprocessing: { mode: string; insideModel: true };
  resize: {
    rule: string;
    method: 'bilinear';
    alignCorners: false;
    halfPixelCenters: true;
    exifOrientation: 'apply';
    note: string;
    teachableMachine?: string;
  };
  output: { kind: 'sigmoid' | 'softmax'; units: number; meaning: string };
  /**
   * The run's label mode: 'binary' (one sigmoid, P(labels[1])), 'categorical' (softmax: one label an
   * image) or 'multi-label' (one independent sigmoid per label: an image gets every label whose
   * probability reaches its threshold, possibly none). Teachable Machine's is always 'categorical'.
   */
  labelMode: RunMeta['labelMode'];
  /** Multi-label only: one threshold per label, in the order of labels (probability >= threshold gives the label). */
  thresholds?: number[];
  /** Multi-label only: how the thresholds were chosen ('validation-f1': each label's F1 on the validation split; 'given': --threshold). */
  thresholdSource?: RunMeta['thresholdSource'];
  quantization: QuantizeMode | null;
  /** A quantized export: tensors and values per stored encoding (uint8 keeps some at float16, or uint16 for tm). */
  weightEncodings?: Record<string, { tensors: number; values: number }>;
  /**
   * A quantized export: its agreement with the unquantized model on the run's validation images
   * (label agreement, largest probability difference), or why it was not measured. null: not quantized.
   */
  agreement: Agreement | null;
  run: {
    base: string;
    baseFamily: string;
    mode: string;
    head: RunMeta['head'];
    /** The epoch of the exported checkpoint, counted from 1 as `tlkit train` prints it ("Best epoch 4"); meta.json's bestEpoch is that minus 1. */
    bestEpoch: number;
    /** val_loss at that epoch. */
    bestValLoss: number | null;
  };
  exportedAt: string;
}
