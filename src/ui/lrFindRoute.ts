import path from 'node:path';
import type { Hono } from 'hono';
import { isUserError, UserError } from '../errors.js';
import { fmtRate, lrFind, type LrFindResult } from '../workflows/lrFind.js';
import type { LrFindView, TrainRequest } from './protocol.js';
import { encodeRel } from './security.js';
import type { Trainer } from './trainer.js';
import { inFormWords, trainOptionsFromForm } from './trainForm.js';

/** The sweep's plot goes here, in the runs folder (a dot folder: never listed as a run); runs themselves are never touched. */
export const LR_FIND_DIR = '.lr-find';

function view(r: LrFindResult): LrFindView {
  const s = r.suggestions;
  const rate = s ? fmtRate(s.valley.rate) : null;
  const message = s
    ? `${r.what}: ${r.rates.length} batches. Suggested learning rates (fastai's): valley ${rate}, steep ${fmtRate(s.steep.rate)}, minimum/10 ${fmtRate(s.minimum.rate)}. The valley is in the "Learning rate" field now.`
    : r.ended === 'interrupted'
      ? 'The sweep was stopped before it finished: no suggestion.'
      : `${r.what}: the loss diverged after ${r.rates.length} batches, too early for a suggestion. Try a smaller batch size, or another optimizer.`;
  const plot = r.plot ? `/files/runs/${encodeRel(path.join(LR_FIND_DIR, path.basename(r.plot.png)))}?t=${Date.now()}` : null;
  return {
    what: r.what,
    batches: r.rates.length,
    seconds: r.seconds,
    suggestions: s ? { valley: s.valley.rate, steep: s.steep.rate, minimum: s.minimum.rate } : null,
    learningRate: rate,
    plotUrl: plot,
    message,
  };
}

/**
 * POST /api/lr-find: lr-find with the training form's values, in this process (one sweep
 * at a time, none while a run trains), behind the same guard as every route (token,
 * Host, Origin: security.ts). A page that goes away stops the sweep.
 */
export function registerLrFind(app: Hono, o: { runsDir: string; dataDir: () => string | null; trainer: Trainer }): void {
  let sweeping = false;
  app.post('/api/lr-find', async (c) => {
    const data = o.dataDir();
    if (!data) throw new UserError('Choose a data folder first.');
    if (o.trainer.running) throw new UserError(`The run ${o.trainer.running} is training. Find a learning rate once it has ended.`);
    if (sweeping) throw new UserError('A learning-rate sweep is running already; wait for it to end.');
    const r = (await c.req.json()) as TrainRequest;
    // The form's values, parsed and checked by the options' declaration (messages name the fields).
    const given = trainOptionsFromForm(r.options ?? {});
    sweeping = true;
    try {
      const result = await lrFind(
        { ...given, data, verbose: 0, plotDir: path.join(o.runsDir, LR_FIND_DIR), signal: c.req.raw.signal },
        { naming: 'form', log: () => {} },
      );
      return c.json(view(result));
    } catch (e) {
      if (isUserError(e)) throw new UserError(inFormWords((e as Error).message));
      throw e;
    } finally {
      sweeping = false;
    }
  });
}
