import type { FileResult } from '../run/evaluation.js';

// fastai's plot_top_losses, per class, for the report and the UI: the images the model got
// wrong or nearly so. A right answer given P(true) 0.999 has a loss near 0 and nothing to
// show, so it is never listed, even when a class has fewer than `top` real losses.

/** A right answer is a loss worth showing only with P(true) below this. */
export const LOSS_SHOWN_BELOW = 0.8;

// A multi-label file's `predicted` (its label list) is not this single-label index: left out.
interface LossItem extends Omit<FileResult, 'predicted'> {
  /** Cross-entropy of the true class: -log P(true) (P clipped to [1e-7, 1 - 1e-7], as Keras's loss is). */
  loss: number;
  predicted: number;
}

export interface ClassLosses {
  /** The highest losses of the class, highest first: at most `top`. */
  items: LossItem[];
  /** How many images of the class are losses (misclassified, or right with P(true) < LOSS_SHOWN_BELOW). */
  losses: number;
  /** How many images of the class were evaluated. */
  images: number;
}

function argmax(s: number[]): number {
  let best = 0;
  for (let i = 1; i < s.length; i++) if (s[i] > s[best]) best = i;
  return best;
}

/** Misclassified, or right with a low probability: what a list of losses shows. */
function isLoss(item: Pick<LossItem, 'label' | 'predicted' | 'scores'>, below = LOSS_SHOWN_BELOW): boolean {
  return item.predicted !== item.label || item.scores[item.label] < below;
}

/**
 * Per class, its images with the highest loss that are losses at all (isLoss), highest first.
 * Ranked by P(true) itself, so that images past the loss's clipping (P(true) below 1e-7) keep
 * their order; then the class's counts, to say when fewer than `top` are shown.
 */
export function topLossesPerClass(files: FileResult[], classes: string[], top: number, below = LOSS_SHOWN_BELOW): ClassLosses[] {
  const by: ClassLosses[] = classes.map(() => ({ items: [], losses: 0, images: 0 }));
  const candidates: LossItem[][] = classes.map(() => []);
  for (const f of files) {
    const group = by[f.label];
    if (!group) continue;
    group.images++;
    const loss = -Math.log(Math.min(1 - 1e-7, Math.max(1e-7, f.scores[f.label])));
    const item = { ...f, loss, predicted: argmax(f.scores) };
    if (isLoss(item, below)) candidates[f.label].push(item);
  }
  return by.map((group, c) => {
    const sorted = candidates[c].sort((a, b) => a.scores[a.label] - b.scores[b.label]);
    return { ...group, losses: sorted.length, items: sorted.slice(0, Math.max(0, top)) };
  });
}

/** What a class's list leaves out: '' when it shows `top`, else why fewer (or none). */
export function fewerLossesNote(group: ClassLosses, className: string, top: number, below = LOSS_SHOWN_BELOW): string {
  if (group.items.length >= top) return '';
  const right = group.images - group.losses;
  const p = below.toFixed(2);
  if (group.images === 0) return `No ${className} images were evaluated.`;
  if (group.losses === 0) return `None: all ${group.images} ${className} images are classified right with P(true) >= ${p}.`;
  const verbs = group.losses === 1 ? 'is misclassified or has' : 'are misclassified or have';
  return `Only ${group.losses} of the ${group.images} ${className} images ${verbs} P(true) below ${p}; the other ${right} ${right === 1 ? 'is' : 'are'} classified right with P(true) >= ${p}.`;
}
