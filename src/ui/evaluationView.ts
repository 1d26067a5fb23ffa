import { fewerLabelLossesNote, topLossesPerLabel } from '../report/multiLabelLosses.js';
import { fewerLossesNote, LOSS_SHOWN_BELOW, topLossesPerClass } from '../report/topLosses.js';
import type { RunEvaluation } from '../run/evaluation.js';
import type { MultiLabelMetrics } from '../run/multiLabelMetrics.js';
import type { EvaluationView } from './protocol.js';

/** Top losses a class on the page. */
const TOP_LOSSES = 4;

/**
 * What the page shows of an evaluation: the figures, and the top 4 losses per class, only
 * what went wrong or nearly so (a correct, confident image is no loss to look at; see
 * report/topLosses.ts), each with the URL of its thumbnail when the page can serve it
 * (`url`), and per class a note when it has fewer.
 */
export function evaluationView(e: RunEvaluation, url: (file: string) => string | null): EvaluationView {
  if (e.multiLabel) return multiLabelView(e, e.multiLabel, url);
  const groups = topLossesPerClass(e.files, e.classes, TOP_LOSSES);
  const topLosses = groups.map((g) =>
    g.items.map((i) => ({
      file: i.file,
      url: url(i.file),
      label: e.classes[i.label],
      predicted: e.classes[i.predicted],
      loss: i.loss,
      probability: i.scores[i.label],
    })),
  );
  const topLossesNotes = groups.map((g, c) => fewerLossesNote(g, e.classes[c], TOP_LOSSES));
  const { dir, n, accuracy, loss, classes, confusion, precision, recall, f1, support } = e;
  return {
    dir,
    n,
    accuracy,
    loss,
    classes,
    confusion,
    precision,
    recall,
    f1,
    support,
    topLosses,
    topLossesNotes,
    lossShownBelow: LOSS_SHOWN_BELOW,
  };
}

/** A multi-label evaluation: its metrics (per-class table, mAP) and, per label, the images most wrong about it. */
function multiLabelView(e: RunEvaluation, m: MultiLabelMetrics, url: (file: string) => string | null): EvaluationView {
  const groups = topLossesPerLabel(e.files, e.classes, m.thresholds, TOP_LOSSES);
  const { dir, n, accuracy, loss, classes } = e;
  return {
    dir,
    n,
    accuracy,
    loss,
    classes,
    confusion: [],
    precision: m.perClass.map((c) => c.precision),
    recall: m.perClass.map((c) => c.recall),
    f1: m.perClass.map((c) => c.f1),
    support: m.perClass.map((c) => c.support),
    multiLabel: m,
    topLosses: groups.map((g, c) =>
      g.items.map((i) => ({
        file: i.file,
        url: url(i.file),
        label: classes[c],
        predicted: classes[c],
        loss: i.loss,
        probability: i.probability,
        present: i.present,
        given: i.given,
      })),
    ),
    topLossesNotes: groups.map((g, c) => fewerLabelLossesNote(g, classes[c], TOP_LOSSES)),
    lossShownBelow: LOSS_SHOWN_BELOW,
  };
}
