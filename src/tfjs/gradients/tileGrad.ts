import * as tf from '@tensorflow/tfjs-core';

/**
 * The gradient of Tile as one reshape and one sum: dy [r0*s0, r1*s1, ...] viewed as
 * [r0, s0, r1, s1, ...] summed over the repetition axes gives dx [s0, s1, ...].
 * tfjs-core's own adds one slice per repetition (a loop of slice + add), and
 * tfjs-layers' LayerNormalization tiles its statistics across the channels and its
 * scale and offset across every other axis: ConvNeXt's 768-channel LayerNorms made
 * thousands of kernel calls per backward pass that way.
 */
export const tileGradConfig: tf.GradConfig = {
  kernelName: 'Tile',
  inputsToSave: ['x'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [x] = saved;
    const reps = (attrs as unknown as tf.TileAttrs).reps;
    return {
      x: () => {
        const g = dy as tf.Tensor;
        const split: number[] = [];
        const repAxes: number[] = [];
        x.shape.forEach((s, i) => {
          if (reps[i] !== 1) {
            repAxes.push(split.length);
            split.push(reps[i]);
          }
          split.push(s);
        });
        if (repAxes.length === 0) return tf.clone(g);
        return tf.reshape(tf.sum(tf.reshape(g, split), repAxes), x.shape);
      },
    };
  },
};

let registered = false;

/** Replace tfjs-core's Tile gradient (for every backend: the result is the same, in a handful of kernel calls). Idempotent. */
export function registerTileGradient(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient(tileGradConfig);
}
