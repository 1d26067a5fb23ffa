import { randomInt } from 'node:crypto';

/**
 * A small seeded pseudo-random generator (mulberry32 over a splitmix32-scrambled seed).
 * Same seed, same sequence, on every platform: that is what makes shuffles and
 * augmentations reproducible with `--seed`.
 */
export class Rng {
  private state: number;

  constructor(seed: number = randomSeed()) {
    this.state = splitmix32((seed >>> 0) ^ Math.floor(seed / 0x100000000));
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A float uniformly distributed in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Shuffle `items` in place (Fisher-Yates) and return it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }
}

/** A fresh 32-bit seed from the OS, for runs without `--seed`. */
export function randomSeed(): number {
  return randomInt(0, 0x7fffffff);
}

/**
 * A seed derived from a base seed and some integers (e.g. epoch number), so that
 * per-epoch shuffles differ from each other but are all fixed by the base seed.
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = splitmix32(seed >>> 0);
  for (const p of parts) h = splitmix32((h ^ Math.imul(p + 1, 0x9e3779b1)) >>> 0);
  return h >>> 0;
}

function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
