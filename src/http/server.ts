import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Readiness } from '../lifecycle/readiness.js';
import { RUNBOOKS_PATH, runbooksPage } from './runbooks.js';

export interface HttpDeps {
  registry: Registry;
  readiness: () => Promise<Readiness>;
  /** Refreshes figures that are read on demand (queue sizes); a failure must not fail the scrape. */
  beforeScrape?: () => Promise<void>;
  /** Exposition text appended to the registry's (per-device series rendered from Redis), in pieces. */
  extraMetrics?: () => Promise<string[]>;
  /** Extra routes (e.g. the status page), keyed by path. */
  routes?: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void> | void>;
}

/** /metrics for Prometheus, /healthz (the process is alive), /readyz (it can do its job), /runbooks (the alerts' runbooks). */
export async function startHttpServer(deps: HttpDeps, host: string, port: number): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    handle(deps, req, res).catch((err: Error) => send(res, 500, 'text/plain', `internal error: ${err.message}\n`));
  });
  // Scrapes and probes are short; don't let an idle keep-alive socket hold up shutdown.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return { server, port: bound, close };
}

async function handle(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const [path = '/', query = ''] = (req.url ?? '/').split('?', 2);
  if (req.method !== 'GET' && req.method !== 'HEAD' && !deps.routes?.[path]) {
    send(res, 405, 'text/plain', 'method not allowed\n');
    return;
  }
  switch (path) {
    case '/metrics': {
      const perDevice = new URLSearchParams(query).get('per_device');
      if (perDevice !== null && perDevice !== 'off') {
        send(res, 400, 'text/plain', 'per_device takes one value: off (leave out the series read from the per-device hash)\n');
        return;
      }
      await deps.beforeScrape?.().catch(() => {});
      // `?per_device=off`: the process's own figures without the fleet's, so Prometheus can scrape
      // them often and a large fleet (~250 bytes per device) on a slower job of its own.
      const fleet = perDevice === 'off' ? [] : ((await deps.extraMetrics?.().catch(() => [])) ?? []);
      await sendPieces(res, deps.registry.contentType, [await deps.registry.metrics(), ...fleet]);
      return;
    }
    case '/healthz':
      send(res, 200, 'text/plain', 'ok\n');
      return;
    case '/readyz': {
      const r = await deps.readiness();
      send(res, r.ready ? 200 : 503, 'application/json', `${JSON.stringify(r)}\n`);
      return;
    }
    case RUNBOOKS_PATH: {
      const page = await runbooksPage();
      if (page) send(res, 200, 'text/html; charset=utf-8', page);
      else send(res, 404, 'text/plain', 'runbooks not installed: see docs/runbooks.md in the source\n');
      return;
    }
  }
  const route = deps.routes?.[path];
  if (route) return route(req, res);
  send(res, 404, 'text/plain', 'not found\n');
}

/**
 * Writes a large body piece by piece, waiting for the socket to drain: a 100k-device scrape is
 * tens of MB, and encoding it as one string would block probing for hundreds of ms.
 */
async function sendPieces(res: ServerResponse, contentType: string, pieces: string[]): Promise<void> {
  res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
  for (const piece of pieces) {
    if (res.destroyed) return;
    if (!res.write(piece)) await drained(res);
  }
  res.end();
}

/** Resolves on 'drain', or on 'close' if the client went away, leaving no listener behind. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}
