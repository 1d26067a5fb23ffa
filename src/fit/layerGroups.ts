import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * Discriminative learning rates (fastai's layer groups): the unfrozen part of a conv base is
 * split into groups at the ends of its architecture's stages, the head is the last group, and
 * a rate range lr/N .. lr is spread over the groups geometrically, so that early layers (general
 * features: edges, textures) move less than late ones (ImageNet-specific parts) and the head,
 * which starts from scratch. Each trainable variable gets its group's multiplier of the
 * optimizer's rate (OptimizerConfig.multipliers, keyed by the tfjs variable name).
 */

/** fastai's even_mults: `n` values from `start` to `stop`, evenly spaced on a log scale (n = 1: [stop]). */
export function evenMults(start: number, stop: number, n: number): number[] {
  if (n === 1) return [stop];
  const step = (stop / start) ** (1 / (n - 1));
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? stop : start * step ** i));
}

/**
 * The unfrozen layers (in the base's order) split after each layer named in `stageEnds`; the
 * layers after the last stage end that falls inside form the last group. A cut in the middle of
 * a stage makes its first group that stage's tail. Names not among the layers are ignored (an
 * architecture of another family, a custom base: one group).
 */
export function splitAtStageEnds(unfrozen: readonly string[], stageEnds: readonly string[]): string[][] {
  const ends = new Set(stageEnds);
  const groups: string[][] = [[]];
  for (const name of unfrozen) {
    groups[groups.length - 1].push(name);
    if (ends.has(name)) groups.push([]);
  }
  return groups.filter((g) => g.length > 0);
}

export interface LayerGroup {
  /** The layers (base layer names; for the head, the head model's). */
  layers: string[];
  /** Its multiplier of the phase's learning rate. */
  multiplier: number;
}

/**
 * The groups with their multipliers: `baseGroups` from splitAtStageEnds, then the head (every
 * trainable variable of `model` that no base group holds). The first base group trains at
 * 1/lrMult of the rate, the head at 1, the groups between at evenMults' steps.
 */
export function layerGroups(model: tfl.LayersModel, baseGroups: readonly string[][], lrMult: number): LayerGroup[] {
  const inBase = new Set(baseGroups.flat());
  const head = model.layers.filter((l) => !inBase.has(l.name) && l.trainableWeights.length > 0).map((l) => l.name);
  const all = [...baseGroups.map((g) => [...g]), head].filter((g) => g.length > 0);
  const mults = evenMults(1 / lrMult, 1, all.length);
  return all.map((layers, i) => ({ layers, multiplier: mults[i] }));
}

/**
 * Each trainable variable of `model` (tfjs's name, as the optimizer sees it) to its group's
 * multiplier; variables of layers in no group train at 1. Empty when every multiplier is 1
 * (lrMult 1: one rate for all, the book's fine-tuning).
 */
export function rateMultipliers(model: tfl.LayersModel, groups: readonly LayerGroup[]): Record<string, number> {
  if (groups.every((g) => g.multiplier === 1)) return {};
  const out: Record<string, number> = {};
  for (const group of groups) {
    for (const name of group.layers) {
      for (const v of model.getLayer(name).trainableWeights) out[v.name] = group.multiplier;
    }
  }
  return out;
}

/** The groups in words for the log: "conv_pad_12..conv_pw_13_relu at 2.0e-5, the head at 2.0e-3". */
export function describeLayerGroups(groups: readonly LayerGroup[], learningRate: number): string {
  const rate = (g: LayerGroup) => (learningRate * g.multiplier).toExponential(1);
  const span = (g: LayerGroup) => (g.layers.length === 1 ? g.layers[0] : `${g.layers[0]}..${g.layers.at(-1)}`);
  return groups.map((g, i) => `${i === groups.length - 1 ? 'the head' : span(g)} at ${rate(g)}`).join(', ');
}
