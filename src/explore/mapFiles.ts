import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { svgToPng } from '../report/plots.js';
import type { DatasetMap } from './datasetMap.js';
import { mapSvg } from './mapPlot.js';

export interface MapFiles {
  json: string;
  labelPng: string;
  labelSvg: string;
  splitPng: string;
  splitSvg: string;
}

/** Six significant digits: the layout's own precision is far coarser. */
const round = (v: number) => Number(v.toPrecision(6));

/**
 * map.json: the settings, then one image a line (file, split, label, x, y, outlier,
 * looksLike, centroidDistance) and the outlier order, so that a person can read it and
 * a diff shows what moved.
 */
export function mapJsonText(map: DatasetMap): string {
  const { points, outliers, ...header } = map;
  const lines = points.map((p) =>
    JSON.stringify({ ...p, x: round(p.x), y: round(p.y), outlier: round(p.outlier), centroidDistance: round(p.centroidDistance) }),
  );
  const head = JSON.stringify({ ...header, seconds: round(header.seconds) }, null, 2).replace(/\n}$/, '');
  return `${head},\n  "points": [\n    ${lines.join(',\n    ')}\n  ],\n  "outliers": ${JSON.stringify(outliers)}\n}\n`;
}

/** Write map.json and the two scatter plots (map-label and map-split, SVG and PNG) into `dir`, each atomically. */
export async function writeDatasetMap(map: DatasetMap, dir: string): Promise<MapFiles> {
  await fsp.mkdir(dir, { recursive: true });
  const files: MapFiles = {
    json: path.join(dir, 'map.json'),
    labelPng: path.join(dir, 'map-label.png'),
    labelSvg: path.join(dir, 'map-label.svg'),
    splitPng: path.join(dir, 'map-split.png'),
    splitSvg: path.join(dir, 'map-split.svg'),
  };
  for (const [by, svgFile, pngFile] of [
    ['label', files.labelSvg, files.labelPng],
    ['split', files.splitSvg, files.splitPng],
  ] as const) {
    const svg = mapSvg(map, by);
    await writeFileAtomic(svgFile, svg);
    await writeFileAtomic(pngFile, await svgToPng(svg));
  }
  // Last: a map.json that exists comes with its plots.
  await writeFileAtomic(files.json, mapJsonText(map));
  return files;
}
