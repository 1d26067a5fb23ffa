// Bounds and number syntax shared by train()'s options and every command's flags. No zod
// here: commands that only parse a few flags import this without the schema.

// Number() alone is too lenient for typed text: it reads '' as 0, '0x10' as 16, '1e3' as
// 1000 and ' 5 ' as 5, which hides mistakes instead of reporting them.
export const WHOLE_NUMBER = /^\+?\d+$/;
export const DECIMAL_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** Seeds are 32-bit signed-safe integers everywhere (the augmentation RNG, shuffling, initialisers). */
export const MAX_SEED = 2 ** 31 - 1;
/** The smallest image size: the conv bases need at least 32 x 32 (Keras says the same). */
export const MIN_IMAGE_SIZE = 32;
/** The largest: beyond this one image alone needs gigabytes. */
export const MAX_IMAGE_SIZE = 2048;
