import type { Rng } from '../io/rng.js';

/** `n` standard normal samples (Box-Muller) times `scale`, drawn from a seeded Rng. */
export function randn(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()));
}
