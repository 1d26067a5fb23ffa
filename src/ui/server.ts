import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createAdaptorServer } from '@hono/node-server';
import { UserError } from '../errors.js';
import { createUiApp } from './app.js';
import { newToken, TOKEN_PARAM, UI_HOST } from './security.js';
import type { Trainer } from './trainer.js';
import { DEFAULT_UPLOAD_LIMITS, type UploadLimits } from './uploads.js';

export interface UiServerOptions {
  /** Folder the runs go to (created when needed). */
  runs: string;
  /** A data folder to open at start. */
  data?: string;
  /** 0 = any free port. */
  port?: number;
  uploadLimits?: Partial<UploadLimits>;
}

export interface UiServer {
  /** The address to open, token included. */
  url: string;
  port: number;
  token: string;
  server: Server;
  trainer: Trainer;
  /** Stop a training cleanly (best checkpoint kept), stop listening, then dispose the Grad-CAM explainer. */
  close(): Promise<void>;
}

/** The compiled page modules: dist/ui/page, from dist/ui/ and from src/ui/ (tests run the sources, the page is built by `npm run build`). */
export function pageDir(): string {
  return fileURLToPath(new URL('../../dist/ui/page/', import.meta.url));
}

/** Start `tlkit ui`'s server on 127.0.0.1 (never another address) with a fresh token. */
export async function startUiServer(o: UiServerOptions): Promise<UiServer> {
  const token = newToken();
  let port = o.port ?? 0;
  const { app, trainer, chooseData, close } = createUiApp({
    runs: o.runs,
    token,
    port: () => port,
    uploadLimits: { ...DEFAULT_UPLOAD_LIMITS, ...o.uploadLimits },
    pageDir: pageDir(),
  });
  if (o.data !== undefined) await chooseData(o.data);
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new UserError(`Port ${port} on ${UI_HOST} is in use. Pass another --port, or --port 0 for any free one.`)
          : e,
      ),
    );
    server.listen(port, UI_HOST, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://${UI_HOST}:${port}/?${TOKEN_PARAM}=${token}`;
  return {
    url,
    port,
    token,
    server,
    trainer,
    close: async () => {
      await trainer.stopAndWait();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await close();
    },
  };
}
