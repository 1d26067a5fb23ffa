import type { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { UserError } from '../errors.js';
import { loadClassifier, type Classifier } from '../inference/classifier.js';
import { readMeta } from '../run/meta.js';

/**
 * POST /api/runs/:id/predict (the image's bytes as the body): the run's prediction by
 * `tlkit predict`'s own classifier. Try it uses it for kNN runs, whose stored features no
 * tfjs model in the page can hold; the classifier of the last run asked stays loaded.
 */
export function registerKnnPredict(app: Hono, o: { runDir: (id: string) => string; maxImageBytes: number }): { dispose(): Promise<void> } {
  let loaded: { id: string; classifier: Promise<Classifier> } | undefined;
  // One request at a time: a second one waits rather than loading the graph twice.
  let queue: Promise<unknown> = Promise.resolve();

  async function classifierOf(id: string, dir: string): Promise<Classifier> {
    if (loaded?.id !== id) {
      const previous = loaded;
      loaded = undefined;
      await (await previous?.classifier.catch(() => undefined))?.dispose();
      const meta = await readMeta(dir);
      if (!meta.knn)
        throw new UserError(`The run ${id} is a ${meta.mode} run: Try it runs its tfjs export in the page. This route serves kNN runs.`);
      loaded = { id, classifier: loadClassifier(dir) };
      loaded.classifier.catch(() => (loaded = undefined));
    }
    return loaded.classifier;
  }

  app.post(
    '/api/runs/:id/predict',
    bodyLimit({
      maxSize: o.maxImageBytes,
      onError: (c) => c.json({ error: `The image is over the limit of ${(o.maxImageBytes / 1e6).toFixed(1)} MB. Try a smaller one.` }, 413),
    }),
    async (c) => {
      const id = c.req.param('id');
      const dir = o.runDir(id);
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      if (bytes.length === 0) throw new UserError('Send the image to classify as the body of the request.');
      const turn = queue.then(async () => (await (await classifierOf(id, dir)).predict(bytes))[0]);
      queue = turn.catch(() => undefined);
      const { label, probability, probabilities } = await turn;
      return c.json({ label, probability, probabilities });
    },
  );

  return {
    dispose: async () => {
      await queue;
      await (await loaded?.classifier.catch(() => undefined))?.dispose();
    },
  };
}
