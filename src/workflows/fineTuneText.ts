// What fine-tuning says: its start (the layers it unfreezes, summarised: a family's top
// block is some 20 layers) and its epochs, counted from 1 within the fine-tuning.

/** Layer names in a line: all of a few, else the first and the last around the count. */
function layerSpan(names: readonly string[], all = 3): string {
  if (names.length <= all) return names.join(', ');
  return `${names[0]} ... ${names[names.length - 1]}`;
}

/** "N layers (first ... last)", or "1 layer (name)". */
export function countedLayers(names: readonly string[]): string {
  return `${names.length} layer${names.length === 1 ? '' : 's'}${names.length ? ` (${layerSpan(names)})` : ''}`;
}

export interface UnfreezeFacts {
  /** The base it fine-tunes, as loadBase describes it. */
  source: string;
  /** Every layer after the cut, in order. */
  unfrozen: readonly string[];
  /** Those with weights that train. */
  trainable: readonly string[];
  cutLayer: string;
  learningRate: number;
}

/** The line fine-tuning starts with. */
export function describeUnfreeze(f: UnfreezeFacts): string {
  const still = f.unfrozen.filter((n) => !f.trainable.includes(n));
  const batchNorm = still.filter((n) => /bn|batch/i.test(n)).length;
  const frozenNote = still.length
    ? `; ${still.length} without trainable weights${batchNorm ? ` (BatchNormalization stays frozen, in inference mode)` : ''}`
    : '';
  return (
    `Fine-tuning the last ${countedLayers(f.unfrozen)} of ${f.source}: ${f.trainable.length ? countedLayers(f.trainable) : 'no layer'} train with the head${frozenNote}. ` +
    `Frozen prefix up to ${f.cutLayer} on ONNX Runtime; learning rate ${f.learningRate}.`
  );
}

/**
 * The header of a fine-tuning epoch when earlier epochs (the head's, or the run it starts
 * from) come first: `Epoch 1/2 (fine-tuning; 21 overall)`. `epoch`, `first` and `last` are
 * 0-based over the whole run; `last` is exclusive.
 */
export function fineTuneEpochLabel(epoch: number, first: number, last: number): string {
  return `Epoch ${epoch - first + 1}/${last - first} (fine-tuning; ${epoch + 1} overall)`;
}
