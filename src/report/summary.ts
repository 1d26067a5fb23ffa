import * as tfl from '@tensorflow/tfjs-layers';

/** One row of the summary: a layer of the model. */
export interface SummaryRow {
  name: string;
  /** Keras 3 class name (tfjs 'Model' is reported as Keras's 'Functional'). */
  className: string;
  /** Output shape with null for unknown dimensions, e.g. [null, 180, 180, 64]. */
  outputShape: Array<number | null> | Array<Array<number | null>>;
  params: number;
  trainable: boolean;
  /** Inbound tensors as "layer[node][tensor]" (empty for inputs). */
  connectedTo: string[];
}

/** The content of a Keras 3 `model.summary()`, as data. */
export interface ModelSummary {
  name: string;
  /** True when Keras would print 3 columns (no merges or branches), false for 4 (with "Connected to"). */
  sequentialLike: boolean;
  layers: SummaryRow[];
  totalParams: number;
  trainableParams: number;
  nonTrainableParams: number;
  /** Bytes of the weights (4 per float32 param), as Keras sizes them. */
  totalBytes: number;
  trainableBytes: number;
  nonTrainableBytes: number;
}

type AnyNode = {
  inboundLayers: tfl.layers.Layer[];
  nodeIndices: number[];
  tensorIndices: number[];
  outputShapes: Array<number | null> | Array<Array<number | null>>;
};
type LayerInternals = tfl.layers.Layer & { inboundNodes: AnyNode[] };
type ContainerInternals = { containerNodes: Set<string>; nodesByDepth: Record<string, AnyNode[]> };

const KERAS_CLASS_NAMES: Record<string, string> = { Model: 'Functional' };

/** The class Keras has for `layer`: a tlkit custom layer standing in for a Keras one says so in `kerasClassName`. */
function kerasClassName(layer: tfl.layers.Layer): string {
  const declared = (layer.constructor as { kerasClassName?: string }).kerasClassName;
  if (declared) return declared;
  const className = layer.getClassName();
  return KERAS_CLASS_NAMES[className] ?? className;
}

function isModelLayer(layer: tfl.layers.Layer): boolean {
  return Array.isArray((layer as unknown as { layers?: unknown }).layers);
}

function countParams(weights: tfl.LayerVariable[]): number {
  const seen = new Set<number>();
  let n = 0;
  for (const w of weights) {
    if (seen.has(w.id)) continue;
    seen.add(w.id);
    n += w.shape.reduce<number>((a, b) => a * (b ?? 0), 1);
  }
  return n;
}

/** The inbound nodes of `layer` that belong to `model` (a layer may also be used in other models). */
function modelNodes(model: tfl.LayersModel, layer: tfl.layers.Layer): AnyNode[] {
  const internals = layer as LayerInternals;
  const keys = (model as unknown as ContainerInternals).containerNodes;
  return internals.inboundNodes.filter((_, i) => !keys || keys.has(`${layer.name}_ib-${i}`));
}

/**
 * Keras's test for a 3-column summary: at every depth one node, and no node with several
 * inputs (no Add/Concatenate, no branches); and no layer reached twice.
 */
function isSequentialLike(model: tfl.LayersModel): boolean {
  if (model instanceof tfl.Sequential) return true;
  const byDepth = (model as unknown as ContainerInternals).nodesByDepth;
  if (!byDepth) return true;
  for (const nodes of Object.values(byDepth)) {
    if (nodes.length > 1) return false;
    if (nodes.length === 1 && nodes[0].inboundLayers.length > 1) return false;
  }
  return model.layers.every((l) => modelNodes(model, l).length <= 1);
}

/** tfjs keeps a list of shapes per node even for one output; Keras prints the lone shape. */
function singleShape(shape: SummaryRow['outputShape']): SummaryRow['outputShape'] {
  if (shape.length === 1 && Array.isArray(shape[0])) return shape[0] as Array<number | null>;
  return shape;
}

export function summarizeModel(model: tfl.LayersModel): ModelSummary {
  const layers: SummaryRow[] = model.layers.map((layer) => {
    const nodes = modelNodes(model, layer);
    const node = nodes[nodes.length - 1];
    const connectedTo: string[] = [];
    for (const n of nodes) {
      n.inboundLayers.forEach((inbound, i) => {
        // A tfjs model used as a layer owns a node of its own (index 0) that Keras 3 models
        // do not have: Keras numbers the model's first call 0.
        const nodeIndex = isModelLayer(inbound) ? Math.max(0, n.nodeIndices[i] - 1) : n.nodeIndices[i];
        connectedTo.push(`${inbound.name}[${nodeIndex}][${n.tensorIndices[i]}]`);
      });
    }
    return {
      name: layer.name,
      className: kerasClassName(layer),
      outputShape: singleShape(node ? node.outputShapes : (layer.outputShape as SummaryRow['outputShape'])),
      params: layer.countParams(),
      trainable: layer.trainable,
      connectedTo,
    };
  });
  const trainableParams = countParams(model.trainableWeights);
  const nonTrainableParams = countParams(model.nonTrainableWeights);
  return {
    name: model.name,
    sequentialLike: isSequentialLike(model),
    layers,
    totalParams: trainableParams + nonTrainableParams,
    trainableParams,
    nonTrainableParams,
    totalBytes: 4 * (trainableParams + nonTrainableParams),
    trainableBytes: 4 * trainableParams,
    nonTrainableBytes: 4 * nonTrainableParams,
  };
}

/** Keras `readable_memory_size`: powers of 1024, two decimals ("56.13 MB", "0.00 B"). */
export function readableMemorySize(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let size = bytes;
  for (const unit of units) {
    if (size / 1024 < 1) return `${size.toFixed(2)} ${unit}`;
    size /= 1024;
  }
  return `${size.toFixed(2)} PB`;
}

/** Thousands separators as Python's `f"{n:,}"`. */
export function withCommas(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function formatShape(shape: SummaryRow['outputShape']): string {
  if (shape.length > 0 && Array.isArray(shape[0])) {
    return `[${(shape as Array<Array<number | null>>).map((s) => formatShape(s)).join(', ')}]`;
  }
  return `(${(shape as Array<number | null>).map((d) => (d === null ? 'None' : String(d))).join(', ')})`;
}

/**
 * Column content widths of the Keras 3 table. Keras asks rich for a table of 88 (3 columns)
 * or 108 characters (4 columns) with columns at fixed fractions; rich then shrinks the
 * padded columns evenly to fit, which gives these widths (inside the 1-space padding).
 */
export function columnWidths(columns: 3 | 4): number[] {
  const lineLength = columns === 3 ? 88 : 108;
  const positions = columns === 3 ? [0.45, 0.8, 1.0] : [0.3, 0.56, 0.74, 1.0];
  let current = 0;
  const padded = positions.map((p) => {
    const w = Math.floor(p * lineLength) - current;
    current += w;
    return w + 2;
  });
  // rich: fit into lineLength minus the borders, reducing each column in turn (ratio_reduce).
  let excess = padded.reduce((a, b) => a + b, 0) - (lineLength - (columns + 1));
  let ratioLeft = columns;
  const reduced = padded.map((w) => {
    const cut = Math.min(w, pyRound(excess / ratioLeft));
    excess -= cut;
    ratioLeft -= 1;
    return w - cut;
  });
  return reduced.map((w) => w - 2);
}

/** Python 3 round(): halves go to the even neighbour. */
function pyRound(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Wrap `text` into lines of at most `width` at spaces (as rich does); a longer word is cut with "…". */
export function wrapCell(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const candidate = line ? `${line} ${word}` : word;
    if (candidate.length <= width) {
      line = candidate;
      continue;
    }
    if (line) lines.push(line);
    line = word.length > width ? `${word.slice(0, width - 1)}…` : word;
  }
  lines.push(line);
  return lines;
}

function pad(text: string, width: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, width - text.length));
  return align === 'right' ? fill + text : text + fill;
}

/** The summary as Keras 3 prints it: the rich table with box-drawing characters, then the totals. */
export function formatSummary(s: ModelSummary): string {
  const columns = s.sequentialLike ? 3 : 4;
  const widths = columnWidths(columns);
  const header = ['Layer (type)', 'Output Shape', 'Param #', 'Connected to'].slice(0, columns);
  const align: Array<'left' | 'right'> = ['left', 'left', 'right', 'left'];
  const rule = (left: string, fill: string, mid: string, right: string) => left + widths.map((w) => fill.repeat(w + 2)).join(mid) + right;
  const row = (cells: string[], bar: string): string[] => {
    const wrapped = cells.map((c, i) => wrapCell(c, widths[i]));
    const height = Math.max(...wrapped.map((w) => w.length));
    const out: string[] = [];
    for (let r = 0; r < height; r++) {
      out.push(bar + wrapped.map((w, i) => ` ${pad(w[r] ?? '', widths[i], align[i])} `).join(bar) + bar);
    }
    return out;
  };
  const lines: string[] = [`Model: "${s.name}"`];
  lines.push(rule('┏', '━', '┳', '┓'));
  lines.push(...row(header, '┃'));
  lines.push(rule('┡', '━', '╇', '┩'));
  s.layers.forEach((l, i) => {
    if (i > 0) lines.push(rule('├', '─', '┼', '┤'));
    const cells = [`${l.name} (${l.className})`, formatShape(l.outputShape), withCommas(l.params)];
    if (columns === 4) cells.push(l.connectedTo.length ? l.connectedTo.join(', ') : '-');
    lines.push(...row(cells, '│'));
  });
  lines.push(rule('└', '─', '┴', '┘'));
  lines.push(` Total params: ${withCommas(s.totalParams)} (${readableMemorySize(s.totalBytes)})`);
  lines.push(` Trainable params: ${withCommas(s.trainableParams)} (${readableMemorySize(s.trainableBytes)})`);
  lines.push(` Non-trainable params: ${withCommas(s.nonTrainableParams)} (${readableMemorySize(s.nonTrainableBytes)})`);
  return `${lines.join('\n')}\n`;
}

/** Keras 3 `model.summary()` text of a tfjs layers model. */
export function modelSummary(model: tfl.LayersModel): string {
  return formatSummary(summarizeModel(model));
}
