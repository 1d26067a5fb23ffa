// The augmentation settings of augment and finetune runs, as plain data: the CLI, the
// run's meta.json and the training pipeline share them without loading tfjs.

/** RandomFlip modes, plus 'none' (no flipping). */
export const FLIP_CHOICES = ['none', 'horizontal', 'vertical', 'horizontal_and_vertical'] as const;
export type FlipChoice = (typeof FLIP_CHOICES)[number];

/** The book's augmentation: RandomFlip("horizontal"), RandomRotation(0.1), RandomZoom(0.2). */
export interface AugmentationParams {
  /** 'none' turns flipping off. */
  flip: FlipChoice;
  /** RandomRotation factor (fraction of a full turn); 0 = off. */
  rotation: number;
  /** RandomZoom height factor (same on width); 0 = off. */
  zoom: number;
}

export const BOOK_AUGMENTATION: AugmentationParams = { flip: 'horizontal', rotation: 0.1, zoom: 0.2 };

export function withAugmentationDefaults(p: Partial<AugmentationParams> | undefined): AugmentationParams {
  const given = Object.fromEntries(Object.entries(p ?? {}).filter(([, v]) => v !== undefined));
  return { ...BOOK_AUGMENTATION, ...given } as AugmentationParams;
}
