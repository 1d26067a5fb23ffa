import type { OptimizerSpec } from './trainingOps.js';

/**
 * The optimizer's update done by the trainer on its own arrays, one fused loop per tensor,
 * when the training graph outputs gradients (update site 'host'). An update in the ONNX
 * graph is nine elementwise passes over each weight tensor, each reading and writing it
 * whole; for a head whose big kernel fits no cache that costs more than its matrix
 * products (bench/head.ts), while one loop reads each array once.
 *
 * Same rules as the graph's (trainingOps.ts emitUpdate):
 *   RMSprop (Keras): v <- rho v + (1 - rho) g^2;  w <- w - lr g / sqrt(v + eps)
 *   Adam (tfjs):     m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  w <- w - lr (m / c1) / (sqrt(v / c2) + eps)
 *   SGD:             w <- w - lr g
 * `state` holds the slots as optimizerState() lists them: rms per parameter | all m, then all v | none.
 */
export function applyUpdate(o: OptimizerSpec, params: Float32Array[], grads: Float32Array[], state: Float32Array[], adam?: { c1: number; c2: number }): void {
  params.forEach((w, p) => {
    const g = grads[p];
    switch (o.kind) {
      case 'rmsprop': {
        const v = state[p];
        const { learningRate: lr, rho, epsilon: eps } = o;
        const keep = 1 - rho;
        for (let i = 0; i < w.length; i++) {
          const gi = g[i];
          const vi = rho * v[i] + keep * gi * gi;
          v[i] = vi;
          w[i] -= (lr * gi) / Math.sqrt(vi + eps);
        }
        return;
      }
      case 'adam': {
        if (!adam) throw new Error('applyUpdate: Adam needs its bias corrections');
        const m = state[p];
        const v = state[params.length + p];
        const { learningRate: lr, beta1, beta2, epsilon: eps } = o;
        const { c1, c2 } = adam;
        for (let i = 0; i < w.length; i++) {
          const gi = g[i];
          const mi = beta1 * m[i] + (1 - beta1) * gi;
          const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
          m[i] = mi;
          v[i] = vi;
          w[i] -= (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
        }
        return;
      }
      case 'sgd': {
        const lr = o.learningRate;
        for (let i = 0; i < w.length; i++) w[i] -= lr * g[i];
        return;
      }
    }
  });
}
