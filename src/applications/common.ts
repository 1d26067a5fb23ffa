import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';

/** [height, width, channels]; height/width may be null (any size) for conv bases. */
export type InputShape = [number | null, number | null, number];

/** Keras application arguments, in Keras's order and with its defaults. */
export interface ApplicationArgs {
  /** Include the fully connected classifier at the top. Default true (Keras). */
  includeTop?: boolean;
  /** 'imagenet' (default, downloaded and cached), 'none' or null (random Keras-default init), or the path of a Keras .h5 weights file. */
  weights?: string | null;
  /** A tensor from `tfl.input()` to use as the image input instead of a new one. */
  inputTensor?: tfl.SymbolicTensor;
  /** [H, W, 3]; default [224, 224, 3] with the top, [null, null, 3] without. */
  inputShape?: InputShape;
  /** Without the top: undefined/null = 4D feature map, 'avg' or 'max' = global pooling to 2D. */
  pooling?: 'avg' | 'max' | null;
  /** Number of classes of the top. Default 1000; must be 1000 with imagenet weights. */
  classes?: number;
  /** Activation of the top layer. Default 'softmax'; 'linear'/null gives logits. */
  classifierActivation?: string | null;
  /** Model name. Default the Keras one (e.g. "vgg16", "mobilenet_1.00_224"). */
  name?: string;
}

export function isRandomWeights(weights: string | null | undefined): boolean {
  return weights === null || weights === 'none';
}

function fmtShape(s: readonly (number | null)[]): string {
  return `(${s.map((v) => (v === null ? 'None' : String(v))).join(', ')})`;
}

/**
 * Keras `imagenet_utils.obtain_input_shape` for channels-last data: validate or
 * default the input shape of an application.
 */
export function obtainInputShape(
  family: string,
  inputShape: InputShape | undefined,
  defaultSize: number,
  minSize: number,
  requireFlatten: boolean,
  weights: string | null | undefined,
): InputShape {
  let defaultShape: InputShape = [defaultSize, defaultSize, 3];
  if (weights !== 'imagenet' && inputShape && inputShape.length === 3) {
    defaultShape = [defaultSize, defaultSize, inputShape[2]];
  }
  if (weights === 'imagenet' && requireFlatten) {
    if (inputShape && fmtShape(inputShape) !== fmtShape(defaultShape)) {
      throw new UserError(
        `${family}: with the classifier top (include top) and imagenet weights the input shape must be ${fmtShape(defaultShape)}, got ${fmtShape(inputShape)}. Drop the top, or use the default input shape.`,
      );
    }
    return defaultShape;
  }
  if (inputShape) {
    if (inputShape.length !== 3) {
      throw new UserError(`${family}: the input shape must be three numbers H,W,C, got ${fmtShape(inputShape)}.`);
    }
    if (inputShape[2] !== 3 && weights === 'imagenet') {
      throw new UserError(`${family}: imagenet weights need 3 input channels (RGB), got input shape ${fmtShape(inputShape)}. Use H,W,3.`);
    }
    const [h, w] = inputShape;
    if ((h !== null && h < minSize) || (w !== null && w < minSize)) {
      throw new UserError(
        `${family}: the input must be at least ${minSize}x${minSize}, got input shape ${fmtShape(inputShape)}. Use a larger image size, e.g. ${defaultSize},${defaultSize},3.`,
      );
    }
  } else {
    inputShape = requireFlatten ? defaultShape : [null, null, 3];
  }
  if (requireFlatten && (inputShape[0] === null || inputShape[1] === null)) {
    throw new UserError(`${family}: with the classifier top the input shape must be static (H and W given), got ${fmtShape(inputShape)}.`);
  }
  return inputShape;
}

/** Keras checks shared by the applications before building. */
export function validateApplicationArgs(family: string, args: ApplicationArgs): void {
  const weights = args.weights === undefined ? 'imagenet' : args.weights;
  const includeTop = args.includeTop ?? true;
  const classes = args.classes ?? 1000;
  if (weights === 'imagenet' && includeTop && classes !== 1000) {
    throw new UserError(
      `${family}: with imagenet weights and the classifier top, classes must be 1000, got ${classes}. Drop the top (includeTop false) to train your own classifier.`,
    );
  }
  const act = args.classifierActivation === undefined ? 'softmax' : args.classifierActivation;
  if (weights === 'imagenet' && includeTop && act !== null && act !== 'softmax' && act !== 'linear') {
    throw new UserError(`${family}: with imagenet weights the classifier activation must be softmax or none, got ${act}.`);
  }
  if (args.pooling !== undefined && args.pooling !== null && args.pooling !== 'avg' && args.pooling !== 'max') {
    throw new UserError(`${family}: pooling must be 'avg', 'max' or none, got ${String(args.pooling)}.`);
  }
}

/** The input of the application: the given tensor, or a new Input named as in Keras 3. */
export function makeInput(args: ApplicationArgs, shape: InputShape): tfl.SymbolicTensor {
  if (args.inputTensor) return args.inputTensor;
  return tfl.input({ shape, name: 'input_layer' });
}

/** The model inputs behind `x` (Keras `get_source_inputs`): every InputLayer tensor it depends on. */
export function sourceInputs(x: tfl.SymbolicTensor): tfl.SymbolicTensor[] {
  const found: tfl.SymbolicTensor[] = [];
  const seen = new Set<number>();
  const walk = (t: tfl.SymbolicTensor): void => {
    if (seen.has(t.id)) return;
    seen.add(t.id);
    if (t.sourceLayer.getClassName() === 'InputLayer') {
      found.push(t);
      return;
    }
    for (const parent of t.inputs) walk(parent);
  };
  walk(x);
  return found;
}
