import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { detailRow, fullListRow, listDevices, listRow, patchDevice, type FakeDevice, type Reply } from './fake-inventory.js';

export type { FakeDevice } from './fake-inventory.js';

export type FaultSpec =
  | { kind: 'status'; code: number }
  | { kind: 'delay'; ms: number }
  | { kind: 'malformed' }
  | { kind: 'truncated' }
  /** A 429 with `Retry-After`: seconds, or an HTTP-date string. */
  | { kind: 'retry-after'; seconds: number | string };

/** A fault hits matching requests until cleared, or `times` times; `method`/`path` narrow it. */
export type Fault = FaultSpec & { times?: number; method?: 'GET' | 'PATCH'; path?: string };

export interface RecordedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  authorization: string | undefined;
}

export interface InventoryServerOptions {
  token: string;
  devices: FakeDevice[];
  port?: number;
  host?: '127.0.0.1';
  /** When set, a list filtered by another organization gets 403, as a scoped token would. */
  allowedOrganizations?: number[];
  now?: () => number;
  /**
   * `spec` (default): list rows as the spec shows them, without management_ip and snmp_community,
   * so the prober needs each device's detail. `full`: list rows carry both, as some inventories'
   * serializers do, and no detail is needed.
   */
  listRows?: 'spec' | 'full';
  /** Added to every GET before it is answered, as a real inventory's database and serializer take (the bench's BENCH_INVENTORY_LATENCY_MS). */
  getLatencyMs?: number;
}

export interface InventoryServer {
  /** API base including `/api/v1`, e.g. `http://127.0.0.1:4321/api/v1`. */
  url: string;
  /** The live store: tests may add, remove or edit devices between sweeps. */
  devices: FakeDevice[];
  patches: { id: number; body: unknown; at: number }[];
  /** Every request received, in order. */
  log: RecordedRequest[];
  readonly requests: number;
  /** Requests being answered now, per endpoint kind: list, detail, patch. */
  readonly inFlight: Record<string, number>;
  /** Most requests answered at the same time so far, per endpoint kind; tests may reset it. */
  maxInFlight: Record<string, number>;
  setFault(fault: Fault | null): void;
  close(): Promise<void>;
}

const BASE = '/api/v1';
const LIST = /^\/api\/v1\/inventory_device\/$/;
const DETAIL = /^\/api\/v1\/inventory_device\/(\d+)\/$/;
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * A real HTTP server implementing the inventory spec's device endpoints, for tests and the demo.
 * It listens on loopback only and keeps everything in memory.
 */
export async function startInventoryServer(opts: InventoryServerOptions): Promise<InventoryServer> {
  const now = opts.now ?? Date.now;
  const timers = new Set<NodeJS.Timeout>();
  let fault: Fault | null = null;
  let origin = '';
  const byId = new DeviceIndex();

  const state: InventoryServer = {
    url: '',
    devices: opts.devices,
    patches: [],
    log: [],
    get requests() {
      return state.log.length;
    },
    inFlight: {},
    maxInFlight: {},
    setFault(f) {
      fault = f ? { ...f } : null;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const takeFault = (req: IncomingMessage): FaultSpec | null => {
    if (!fault || (fault.method && fault.method !== req.method) || (fault.path && !req.url?.includes(fault.path))) return null;
    const taken = fault;
    if (taken.times !== undefined && --taken.times <= 0) fault = null;
    return taken;
  };

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  async function route(req: IncomingMessage): Promise<Reply> {
    if (req.headers.authorization !== `Bearer ${opts.token}`) {
      return { status: 401, body: { detail: 'Authentication credentials were not provided or are invalid.' } };
    }
    const url = new URL(req.url ?? '/', origin);
    if (LIST.test(url.pathname) && req.method === 'GET') {
      return listDevices(state.devices, url.searchParams, `${origin}${BASE}/inventory_device/`, opts.allowedOrganizations, opts.listRows === 'full' ? fullListRow : listRow);
    }
    const match = DETAIL.exec(url.pathname);
    if (!match || (req.method !== 'GET' && req.method !== 'PATCH')) return { status: 404, body: { detail: 'Not found.' } };
    const device = byId.find(state.devices, Number(match[1]));
    if (!device) return { status: 404, body: { detail: 'Not found.' } };
    if (req.method === 'GET') return { status: 200, body: detailRow(device) };

    const parsed = parseJson(await readBody(req));
    state.patches.push({ id: device.id, body: parsed, at: now() });
    return patchDevice(device, parsed, new Date(now()).toISOString());
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? '';
    const kind = method === 'PATCH' ? 'patch' : LIST.test((req.url ?? '').split('?')[0] ?? '') ? 'list' : 'detail';
    const inFlight = state.inFlight;
    inFlight[kind] = (inFlight[kind] ?? 0) + 1;
    state.maxInFlight[kind] = Math.max(state.maxInFlight[kind] ?? 0, inFlight[kind]);
    // 'finish' (handed to the OS) comes before the client can answer with its next request; 'close' covers a dropped one.
    let counted = true;
    const done = () => {
      if (counted) inFlight[kind] = (inFlight[kind] ?? 1) - 1;
      counted = false;
    };
    res.once('finish', done).once('close', done);
    state.log.push({ method, url: req.url ?? '', authorization: req.headers.authorization });
    if (method === 'GET' && opts.getLatencyMs) await pause(opts.getLatencyMs);
    let active = takeFault(req);
    if (active?.kind === 'delay') {
      await pause(active.ms);
      active = null;
    }
    if (active?.kind === 'status') return send(res, { status: active.code, body: { detail: `injected ${active.code}` } });
    if (active?.kind === 'retry-after') {
      res.setHeader('retry-after', String(active.seconds));
      return send(res, { status: 429, body: { detail: 'Request was throttled.' } });
    }
    if (active?.kind === 'malformed') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>502 Bad Gateway</html>');
      return;
    }
    const reply = await route(req);
    if (active?.kind === 'truncated') return sendTruncated(res, reply);
    send(res, reply);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, { status: 500, body: { detail: 'internal error' } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  state.url = `${origin}${BASE}`;
  return state;
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.destroyed) return;
  const body = JSON.stringify(reply.body);
  res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Promises the whole body in Content-Length, sends half, then drops the connection. */
function sendTruncated(res: ServerResponse, reply: Reply): void {
  const body = Buffer.from(JSON.stringify(reply.body));
  res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': body.length });
  res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Invalid JSON becomes a non-object, which patchDevice answers with 400. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Finds a device by id without scanning the store: a cold start of 100,000 devices asks for
 * 100,000 details. Tests edit the store in place, so a stale position is noticed and the index
 * rebuilt.
 */
class DeviceIndex {
  private positions = new Map<number, number>();

  find(devices: FakeDevice[], id: number): FakeDevice | undefined {
    const at = this.positions.get(id);
    if (at !== undefined && devices[at]?.id === id) return devices[at];
    this.positions = new Map();
    // The first of two rows with one id wins, as a scan would find it.
    for (let i = devices.length - 1; i >= 0; i--) this.positions.set((devices[i] as FakeDevice).id, i);
    const again = this.positions.get(id);
    return again === undefined ? undefined : devices[again];
  }
}
