import { topLossesPerClass } from '../report/htmlReport.js';
import type { RunEvaluation } from '../run/evaluation.js';
import type { EvaluationView } from './protocol.js';

/** Top losses: misclassified images, and right ones with P(true) below this. */
export const LOSS_SHOWN_BELOW = 0.8;

/**
 * What the page shows of an evaluation: the figures, and the top 4 losses per class, only
 * what went wrong or nearly so (a correct, confident image is no loss to look at), each
 * with the URL of its thumbnail when the page can serve it (`url`).
 */
export function evaluationView(e: RunEvaluation, url: (file: string) => string | null): EvaluationView {
  const topLosses = topLossesPerClass(e.files, e.classes, 4).map((items) =>
    items
      .filter((i) => i.predicted !== i.label || i.scores[i.label] < LOSS_SHOWN_BELOW)
      .map((i) => ({
        file: i.file,
        url: url(i.file),
        label: e.classes[i.label],
        predicted: e.classes[i.predicted],
        loss: i.loss,
        probability: i.scores[i.label],
      })),
  );
  const { dir, n, accuracy, loss, classes, confusion, precision, recall, f1, support } = e;
  return { dir, n, accuracy, loss, classes, confusion, precision, recall, f1, support, topLosses, lossShownBelow: LOSS_SHOWN_BELOW };
}
