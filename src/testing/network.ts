import http from 'node:http';
import net from 'node:net';
import type { Requirement } from './requirements.js';

/**
 * A second address of this machine that always exists on Linux: the whole of 127.0.0.0/8
 * reaches the loopback interface, so a server on all addresses answers on 127.0.0.2 and
 * one bound to 127.0.0.1 does not. (macOS has it only after `ifconfig lo0 alias 127.0.0.2`.)
 */
export const OTHER_LOOPBACK = '127.0.0.2';

function listen(server: net.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

const close = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** Whether OTHER_LOOPBACK reaches this machine: probed with a server on all addresses, answered there. */
export async function needsOtherLoopback(): Promise<Requirement> {
  const server = http.createServer((_, res) => res.end('here'));
  const port = await listen(server, '0.0.0.0');
  try {
    const answer = await fetch(`http://${OTHER_LOOPBACK}:${port}/`, { signal: AbortSignal.timeout(3000) }).then(
      (r) => r.text(),
      (e: Error) => `${e.message} (${(e.cause as { code?: string } | undefined)?.code ?? ''})`,
    );
    return {
      missing: answer !== 'here' && `${OTHER_LOOPBACK} does not reach this machine (${answer})`,
      install: `a Linux loopback (127.0.0.0/8), or on macOS: sudo ifconfig lo0 alias ${OTHER_LOOPBACK}`,
    };
  } finally {
    server.closeAllConnections();
    await close(server);
  }
}

/**
 * An address whose connections are refused (ECONNREFUSED), without the race of closing a
 * port and hoping nobody takes it: a socket listening on 127.0.0.1:P holds P (nobody can
 * listen on P on all addresses while it does), and OTHER_LOOPBACK:P has no listener.
 * Needs needsOtherLoopback. `close` gives the port back.
 */
export async function refusedAddress(): Promise<{ host: string; port: number; close: () => Promise<void> }> {
  const holder = net.createServer((socket) => socket.destroy());
  const port = await listen(holder, '127.0.0.1');
  return { host: OTHER_LOOPBACK, port, close: () => close(holder) };
}
