// "Find learning rate" in section 2 (Train): lr-find on the server with the form's values;
// the plot of the sweep appears under the form, and the valley fills the learning-rate field.
import type { LrFindView, TrainRequest } from '../protocol.js';
import { postJson } from './api.js';
import { byId, el } from './dom.js';
import { action, say } from './pageState.js';

export function wireLrFind(request: () => TrainRequest): void {
  const button = el(
    'button',
    { id: 'lr-find', class: 'secondary', type: 'button', title: "fastai's lr_find: a short sweep of training batches" },
    'Find learning rate',
  );
  byId('train-stop').after(button);
  const plot = el('img', { id: 'lr-find-plot', alt: 'The smoothed training loss against the learning rate (log scale)', width: '480' });
  const figure = el('figure', { id: 'lr-find-result', hidden: '' }, plot);
  byId('train-message').after(figure);
  action(button, 'train-message', async () => {
    const start = byId<HTMLButtonElement>('train-start');
    const wasDisabled = start.disabled;
    start.disabled = true;
    say('train-message', 'Finding a learning rate: a short sweep of training batches, the rate growing at each ...');
    try {
      const r = await postJson<LrFindView>('/api/lr-find', request());
      if (r.plotUrl) {
        plot.src = r.plotUrl;
        figure.hidden = false;
      }
      const field = byId<HTMLFormElement>('train-form').elements.namedItem('learningRate') as HTMLInputElement | null;
      if (field && r.learningRate) {
        field.value = r.learningRate;
        field.dispatchEvent(new Event('change', { bubbles: true }));
      }
      say('train-message', r.message, r.suggestions ? 'ok' : 'error');
    } finally {
      start.disabled = wasDisabled;
    }
  });
}
