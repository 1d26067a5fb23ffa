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
  // Every operation rounded to float32 (Math.fround), in the order the graph and tfjs apply
  // them: float64 intermediates drift from the tfjs path's curve over a few hundred steps.
  const f = Math.fround;
  params.forEach((w, p) => {
    const g = grads[p];
    switch (o.kind) {
      case 'rmsprop': {
        const v = state[p];
        const [lr, rho, keep, eps] = [f(o.learningRate), f(o.rho), f(1 - o.rho), f(o.epsilon)];
        for (let i = 0; i < w.length; i++) {
          const gi = g[i];
          const vi = f(f(v[i] * rho) + f(f(gi * gi) * keep));
          v[i] = vi;
          w[i] = f(w[i] - f(f(gi * lr) / f(Math.sqrt(f(vi + eps)))));
        }
        return;
      }
      case 'adam': {
        if (!adam) throw new Error('applyUpdate: Adam needs its bias corrections');
        const m = state[p];
        const v = state[params.length + p];
        const [minusLr, b1, keep1, b2, keep2, eps] = [f(-o.learningRate), f(o.beta1), f(1 - o.beta1), f(o.beta2), f(1 - o.beta2), f(o.epsilon)];
        const [c1, c2] = [f(adam.c1), f(adam.c2)];
        for (let i = 0; i < w.length; i++) {
          const gi = g[i];
          const mi = f(f(m[i] * b1) + f(gi * keep1));
          const vi = f(f(v[i] * b2) + f(f(gi * gi) * keep2));
          m[i] = mi;
          v[i] = vi;
          const ratio = f(f(mi / c1) / f(f(Math.sqrt(f(vi / c2))) + eps));
          w[i] = f(f(ratio * minusLr) + w[i]);
        }
        return;
      }
      case 'sgd': {
        const minusLr = f(-o.learningRate);
        for (let i = 0; i < w.length; i++) w[i] = f(f(minusLr * g[i]) + w[i]);
        return;
      }
    }
  });
}
