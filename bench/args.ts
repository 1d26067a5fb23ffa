import path from 'node:path';
import { SHARED } from '../src/testing/photos.js';

/**
 * What every bench reads from its command line, and the shared files most of them
 * run on (../shared beside the checkout: real photos and a pretrained MobileNet).
 */

/** The value after `name` (e.g. '--data'), else `fallback`. */
export function stringArg(name: string): string | undefined;
export function stringArg(name: string, fallback: string): string;
export function stringArg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** The number after `name` (e.g. '--epochs'), else `fallback`. */
export function numberArg(name: string, fallback: number): number {
  const v = stringArg(name);
  return v === undefined ? fallback : Number(v);
}

/** Whether the flag `name` (e.g. '--no-torch') is on the command line. */
export function flag(name: string): boolean {
  return process.argv.includes(name);
}

/** The shared cats-vs-dogs dataset (train/ validation/ test/). */
export const SHARED_DATA = path.join(SHARED, 'data/cats_vs_dogs_small');
/** Its training photos, one folder per class. */
export const SHARED_TRAIN = path.join(SHARED_DATA, 'train');
/** The shared pretrained MobileNet v1 (224x224, tfjs layers format). */
export const SHARED_MOBILENET = path.join(SHARED, 'models/mobilenet_v1_1.0_224_imagenet_truncated');
