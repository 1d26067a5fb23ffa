import { loadBase, type ConvBase } from '../applications/loadBase.js';

export interface LoadBaseArgs {
  base: string;
  weights?: string;
  imageSize?: [number, number];
}

/** Engineer A's loadBase, the one way the training workflows get a conv base. */
export async function loadConvBase(args: LoadBaseArgs): Promise<ConvBase> {
  return loadBase({ base: args.base, weights: args.weights, imageSize: args.imageSize });
}
