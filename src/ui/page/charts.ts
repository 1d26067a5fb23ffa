import uPlot from 'uplot';

// The live curves (uPlot): one chart of loss, one of accuracy, training and validation,
// redrawn at every epoch; and the comparison of several runs' validation accuracy.

export interface Curves {
  epoch: number[];
  history: Record<string, Array<number | null>>;
}

/** Whole epochs only on the x axis. */
const EPOCH_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/** Accuracy is drawn on 0..1 (uPlot would stretch a flat 1.0 curve to 0..2). */
const ACCURACY_SCALE: uPlot.Scale = { range: [0, 1] };

/** The accuracy chart's series: a multi-label run adds its mAP (training and validation). */
const ACCURACY_KEYS = ['accuracy', 'val_accuracy', 'map', 'val_map'] as const;

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

/** uPlot's columns: x = 1-based epochs, then one column per series (null where a series has no value). */
export function columns(c: Curves, keys: string[]): uPlot.AlignedData {
  return [c.epoch.map((e) => e + 1), ...keys.map((k) => c.epoch.map((_, i) => c.history[k]?.[i] ?? null))];
}

function chart(host: HTMLElement, title: string, series: string[], width: number, y: uPlot.Scale = {}): uPlot {
  return new uPlot(
    {
      title,
      width,
      height: 220,
      scales: { x: { time: false }, y },
      axes: [{ label: 'epoch', incrs: EPOCH_STEPS }, {}],
      series: [
        { label: 'epoch' },
        ...series.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 2, points: { show: true, size: 6 } })),
      ],
    },
    [[], ...series.map(() => [])],
    host,
  );
}

/** A run's two figures, as the report and the book draw them. */
export class CurveCharts {
  private readonly loss: uPlot;
  private readonly accuracy: uPlot;

  constructor(
    private readonly lossHost: HTMLElement,
    private readonly accuracyHost: HTMLElement,
  ) {
    const width = Math.max(280, Math.min(520, lossHost.clientWidth || 460));
    this.loss = chart(lossHost, 'Loss', ['loss', 'val_loss'], width);
    this.accuracy = chart(accuracyHost, 'Accuracy', [...ACCURACY_KEYS], width, ACCURACY_SCALE);
  }

  show(c: Curves): void {
    this.loss.setData(columns(c, ['loss', 'val_loss']));
    this.accuracy.setData(columns(c, [...ACCURACY_KEYS]));
    // a multi-label run's mAP beside its (binary) accuracy; the series are hidden for other runs
    const map = c.history.val_map !== undefined || c.history.map !== undefined;
    for (const i of [3, 4]) this.accuracy.setSeries(i, { show: map });
    // What the page's test reads: how many epochs the curves hold.
    this.lossHost.dataset.epochs = String(c.epoch.length);
    this.accuracyHost.dataset.epochs = String(c.epoch.length);
  }
}

/** Several runs' val_accuracy on one chart (runs of different lengths: shorter ones end early). */
export function compareChart(host: HTMLElement, runs: Array<{ id: string; curves: Curves }>): void {
  host.replaceChildren();
  if (runs.length === 0) return;
  const longest = Math.max(...runs.map((r) => r.curves.epoch.length));
  const x = Array.from({ length: longest }, (_, i) => i + 1);
  const data: uPlot.AlignedData = [x, ...runs.map((r) => x.map((_, i) => r.curves.history.val_accuracy?.[i] ?? null))];
  new uPlot(
    {
      title: 'Validation accuracy',
      width: Math.max(280, Math.min(720, host.clientWidth || 640)),
      height: 220,
      scales: { x: { time: false }, y: ACCURACY_SCALE },
      axes: [{ label: 'epoch', incrs: EPOCH_STEPS }, {}],
      series: [
        { label: 'epoch' },
        ...runs.map((r, i) => ({ label: r.id, stroke: COLORS[i % COLORS.length], width: 2, points: { show: true, size: 6 } })),
      ],
    },
    data,
    host,
  );
  host.dataset.runs = String(runs.length);
}
