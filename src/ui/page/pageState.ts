// What the page's panels share: the page state, the message lines, the button
// actions, and the training charts (made by the training panel, also shown by Results).
import type { DataState, RunSummary } from '../protocol.js';
import type { CurveCharts, Curves } from './charts.js';
import type { PagePredictor } from './classify.js';
import type { ServerPredictor } from './serverPredictor.js';
import { byId } from './dom.js';

export const state = {
  data: null as DataState | null,
  thumbOffset: 0,
  runs: [] as RunSummary[],
  selected: null as string | null,
  compare: new Set<string>(),
  live: { epoch: [], history: {} } as Curves,
  predictor: null as { run: string; ready: Promise<PagePredictor | ServerPredictor> } | null,
};

export function say(id: string, text: string, kind: 'error' | 'ok' | '' = ''): void {
  const m = byId(id);
  m.textContent = text;
  m.className = `message ${kind}`;
}

/** Run an action from a button: its error goes to the section's message line. */
export function action(button: HTMLButtonElement, messageId: string, f: () => Promise<void>): void {
  button.addEventListener('click', (e) => {
    e.preventDefault();
    button.disabled = true;
    f()
      .catch((err: unknown) => say(messageId, err instanceof Error ? err.message : String(err), 'error'))
      .finally(() => {
        button.disabled = false;
      });
  });
}

/** The loss and accuracy charts of section 2 (Train), made by wireTrain; selecting a run shows its curves there. */
export let charts: CurveCharts;

export function setCharts(c: CurveCharts): void {
  charts = c;
}
