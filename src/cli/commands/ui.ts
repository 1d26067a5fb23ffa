import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { parseIntOption } from '../parseOptions.js';

/** Open the URL in the desktop's browser; say so when there is none (the URL is printed anyway). */
function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]];
  const child = spawn(cmd, args as string[], { stdio: 'ignore', detached: true });
  child.on('error', () => process.stderr.write(`tlkit: could not start a browser (${cmd}); open the URL above yourself.\n`));
  child.unref();
}

/** `tlkit ui`: the whole workflow in a local web page (server in src/ui/). */
export function register(program: Command): void {
  program
    .command('ui')
    .description(
      'Start a local web page for the whole workflow: pick data, train with live curves, see results, try the model on an image, export. Listens on 127.0.0.1 only; the printed URL carries the access token.',
    )
    .option('--data <dir>', 'data folder to open at start (another can be chosen in the page)')
    .option('--runs <dir>', 'folder the runs are written to and listed from', 'runs')
    .option('--port <n>', 'port on 127.0.0.1 (0 = any free port)', '0')
    .option('--open', 'open the page in the default browser')
    .action(async (o: { data?: string; runs: string; port: string; open?: boolean }) => {
      const port = parseIntOption('--port', o.port, { min: 0, max: 65535, example: '8080' }) as number;
      const { startUiServer } = await import('../../ui/server.js');
      const ui = await startUiServer({ runs: o.runs, data: o.data, port });
      process.stdout.write(`tlkit ui: ${ui.url}\n(runs in ${o.runs}; Ctrl-C stops the server, after stopping a training cleanly)\n`);
      if (o.open) openBrowser(ui.url);
      let stopping = false;
      process.on('SIGINT', () => {
        if (stopping) process.exit(130);
        stopping = true;
        process.stderr.write('\ntlkit ui: stopping (a training stops after its current batch; Ctrl-C again to quit now).\n');
        void ui.close().then(() => process.exit(0));
      });
    });
}
