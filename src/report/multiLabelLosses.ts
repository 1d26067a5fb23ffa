import type { FileResult } from '../run/evaluation.js';
import { LOSS_SHOWN_BELOW } from './topLosses.js';

// fastai's plot_top_losses for a multi-label run, one list per label: the images whose binary
// cross-entropy for that label is largest. As for one label per image (topLosses.ts), an image
// the model got right with confidence has a loss near 0 and is never listed.

export interface LabelLoss {
  file: string;
  /** The model's probability of the label. */
  probability: number;
  /** Whether the image truly has the label, and whether the model gave it (probability >= threshold). */
  present: boolean;
  given: boolean;
  /** The image's true labels and the labels the model gave it (at their thresholds). */
  labels: string[];
  predicted: string[];
  /** Binary cross-entropy of this label: -log P(right answer), P clipped to [1e-7, 1 - 1e-7] as Keras does. */
  loss: number;
}

export interface LabelLosses {
  /** The highest losses of the label, highest first: at most `top`. */
  items: LabelLoss[];
  /** How many images are losses for the label (decided wrong, or right with P(right answer) < LOSS_SHOWN_BELOW). */
  losses: number;
  images: number;
}

/**
 * Per label, the evaluated images with the highest binary cross-entropy for that label that are
 * losses at all, highest first. Ranked by P(right answer) itself, so that images past the loss's
 * clipping keep their order. `files` need their true `labels` (a multi-label evaluation's).
 */
export function topLossesPerLabel(
  files: FileResult[],
  classes: string[],
  thresholds: number[],
  top: number,
  below = LOSS_SHOWN_BELOW,
): LabelLosses[] {
  return classes.map((name, c) => {
    const candidates: Array<LabelLoss & { right: number }> = [];
    for (const f of files) {
      const probability = f.scores[c];
      const present = (f.labels ?? []).includes(name);
      const given = probability >= thresholds[c];
      const right = present ? probability : 1 - probability;
      if (given === present && right >= below) continue;
      const loss = -Math.log(Math.min(1 - 1e-7, Math.max(1e-7, right)));
      candidates.push({
        file: f.file,
        probability,
        present,
        given,
        labels: f.labels ?? [],
        predicted: f.predicted ?? classes.filter((_, j) => f.scores[j] >= thresholds[j]),
        loss,
        right,
      });
    }
    candidates.sort((a, b) => a.right - b.right);
    return {
      images: files.length,
      losses: candidates.length,
      items: candidates.slice(0, Math.max(0, top)).map(({ right: _, ...item }) => item),
    };
  });
}

/** What a label's list leaves out: '' when it shows `top`, else why fewer (or none). */
export function fewerLabelLossesNote(group: LabelLosses, label: string, top: number, below = LOSS_SHOWN_BELOW): string {
  if (group.items.length >= top) return '';
  const p = below.toFixed(2);
  if (group.images === 0) return 'No images were evaluated.';
  if (group.losses === 0) return `None: all ${group.images} images are right about ${label} with P(right answer) >= ${p}.`;
  const right = group.images - group.losses;
  const verbs = group.losses === 1 ? 'is wrong about it or right with' : 'are wrong about it or right with';
  return `Only ${group.losses} of the ${group.images} images ${verbs} P(right answer) below ${p}; the other ${right} ${right === 1 ? 'is' : 'are'} right about ${label} with P(right answer) >= ${p}.`;
}
