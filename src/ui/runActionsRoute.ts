import path from 'node:path';
import type { Hono } from 'hono';
import { UserError } from '../errors.js';
import { labelsTableOptions, type LabelsTableOptions } from '../data/labelsTable.js';
import { resolveDataDir } from '../data/splits.js';
import { exportRun, EXPORT_FORMATS, type ExportFormat } from '../export/exportRun.js';
import { evaluateRun } from '../inference/evaluate.js';
import { readEvaluationFile } from '../run/evaluation.js';
import { readMeta } from '../run/meta.js';
import { evaluationView } from './evaluationView.js';
import type { ExportView } from './protocol.js';
import { encodeRel } from './security.js';

export interface RunActionsContext {
  runDir: (id: string) => string;
  dataDir: () => string | null;
  /** Throws a UserError while the run is training. */
  notTraining: (id: string) => void;
  /** The thumbnail URL of an image under the chosen data folder, else null. */
  imageUrl: (file: string) => string | null;
}

/** What the results panel asks of a finished run: its stored evaluation, a new evaluation, an export. */
export function registerRunActions(app: Hono, o: RunActionsContext): void {
  app.get('/api/runs/:id/evaluation', async (c) => {
    const e = await readEvaluationFile(o.runDir(c.req.param('id')));
    return c.json(e ? evaluationView(e, o.imageUrl) : null);
  });

  app.post('/api/runs/:id/evaluate', async (c) => {
    const id = c.req.param('id');
    o.notTraining(id);
    const dir = o.runDir(id);
    const meta = await readMeta(dir);
    const data = meta.data ?? o.dataDir();
    if (!data) throw new UserError(`The run ${id} does not record its data folder. Choose the data folder first.`);
    // A run trained from a labels table (a multi-label run always is): every row of that table, as `tlkit evaluate --labels` does.
    const table = labelsTableOptions((meta.options ?? {}) as LabelsTableOptions);
    if (table) {
      const view = evaluationView(await evaluateRun(dir, data, { table }), o.imageUrl);
      return c.json({ ...view, evaluatedOn: `every row of the labels table ${table.labels}, its training rows too` });
    }
    // The test split when there is one, else the validation images (what training measured val_accuracy on).
    const d = resolveDataDir(data);
    const on = d.splits.test ? data : (d.splits.validation ?? data);
    return c.json(evaluationView(await evaluateRun(dir, on), o.imageUrl));
  });

  app.post('/api/runs/:id/export', async (c) => {
    const id = c.req.param('id');
    o.notTraining(id);
    const dir = o.runDir(id);
    const { format } = (await c.req.json()) as { format?: string };
    if (!(EXPORT_FORMATS as readonly string[]).includes(String(format)))
      throw new UserError(`The export format must be one of ${EXPORT_FORMATS.join(', ')}, got '${format}'.`);
    const out = path.join(dir, 'exports', String(format));
    const r = await exportRun(dir, { format: format as ExportFormat, out });
    const view: ExportView = {
      format: r.format,
      out,
      files: r.files.map((f) => ({ rel: f, url: `/files/runs/${encodeRel(path.join(id, 'exports', r.format, f))}` })),
    };
    return c.json(view);
  });
}
