import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Secret } from '../../src/config/secret.js';
import { InventoryClient, type InventoryPage } from '../../src/inventory/client.js';
import { InventoryHttpError, InventoryNetworkError, MalformedPageError } from '../../src/inventory/errors.js';
import { createInventoryHttp, type InventoryHttpOptions } from '../../src/inventory/http.js';
import { createLogger } from '../../src/log/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { fakeDevice, fakeFleet, startInventoryServer, type FakeDevice, type InventoryServer } from '../support/inventory-server.js';
import { freePort } from '../support/redis-server.js';

const TOKEN = 'tok-3f9c1d7e-not-for-logs';
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function setup(devices: FakeDevice[], http: Partial<InventoryHttpOptions> = {}, server: { allowedOrganizations?: number[] } = {}) {
  const inventory = await startInventoryServer({ token: TOKEN, devices, ...server });
  const sleeps: number[] = [];
  const metrics = new Metrics(new Registry(), { defaultMetrics: false });
  const client = new InventoryClient(
    createInventoryHttp({
      url: inventory.url,
      token: new Secret(TOKEN),
      timeoutMs: 2_000,
      retries: 3,
      metrics,
      sleep: async (ms) => void sleeps.push(ms),
      random: () => 0.5,
      ...http,
    }),
  );
  cleanups.push(() => inventory.close(), () => client.close());
  return { inventory, client, sleeps, metrics };
}

/** Every page in offset order; the first page that failed on its own is thrown. */
async function readAll(client: InventoryClient, pageSize = 7, filters = { organization: [] as number[], type: [] as number[] }, concurrency = 1) {
  const pages: InventoryPage[] = [];
  for await (const page of client.listDevices({ pageSize, filters, concurrency })) {
    if (!page.ok) throw page.error;
    pages.push(page);
  }
  return pages.sort((a, b) => a.offset - b.offset);
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err,
  );
}

/** Runs `hook` once, as the server receives the first list request whose URL contains `match`. */
function onListRequest(inventory: InventoryServer, match: string, hook: () => void): void {
  const push = inventory.log.push.bind(inventory.log);
  let done = false;
  inventory.log.push = (...items) => {
    if (!done && items.some((r) => r.url.includes('/inventory_device/?') && r.url.includes(match))) {
      done = true;
      hook();
    }
    return push(...items);
  };
}

const listRequests = (s: InventoryServer) => s.log.filter((r) => r.url.includes('/inventory_device/?')).map((r) => new URL(r.url, 'http://x').searchParams);

async function requestCount(metrics: Metrics, labels: { method: string; code: string }): Promise<number> {
  const { values } = await metrics.inventoryRequestsTotal.get();
  return values.find((v) => v.labels.method === labels.method && v.labels.code === labels.code)?.value ?? 0;
}

describe('listing devices page by page', () => {
  it('reads 23 devices in pages of 7 exactly once, with the right limit and offset', async () => {
    const { inventory, client } = await setup(fakeFleet(23));
    const pages = await readAll(client, 7);
    expect(pages.map((p) => [p.offset, p.count, p.devices.length])).toEqual([[0, 23, 7], [7, 23, 7], [14, 23, 7], [21, 23, 2]]);
    const ids = pages.flatMap((p) => p.devices.map((d) => d.id));
    expect(ids).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    expect(listRequests(inventory).map((q) => [q.get('limit'), q.get('offset')])).toEqual([['7', '0'], ['7', '7'], ['7', '14'], ['7', '21']]);
  });

  it('keeps the base path of inventory.url and sends the bearer token on every request', async () => {
    const { inventory, client } = await setup(fakeFleet(10));
    await readAll(client, 4);
    expect(inventory.log.length).toBe(3);
    for (const r of inventory.log) {
      expect(r.url.startsWith('/api/v1/inventory_device/?')).toBe(true);
      expect(r.authorization).toBe(`Bearer ${TOKEN}`);
    }
  });

  it('stops at an empty listing after one request', async () => {
    const { inventory, client } = await setup([]);
    expect(await readAll(client)).toEqual([]);
    expect(inventory.requests).toBe(1);
  });

  it('lists each (organization, type) filter combination separately and yields only matching devices', async () => {
    const devices = [
      fakeDevice(1, { organization: { id: 1, name: 'A' }, type: { id: 5, name: 'Switch' } }),
      fakeDevice(2, { organization: { id: 2, name: 'B' }, type: { id: 5, name: 'Switch' } }),
      fakeDevice(3, { organization: { id: 2, name: 'B' }, type: { id: 1, name: 'Router' } }),
      fakeDevice(4, { organization: { id: 3, name: 'C' }, type: { id: 5, name: 'Switch' } }),
    ];
    const { inventory, client } = await setup(devices);
    const pages = await readAll(client, 20, { organization: [1, 2], type: [5] });
    expect(pages.flatMap((p) => p.devices.map((d) => d.id))).toEqual([1, 2]);
    expect(listRequests(inventory).map((q) => [q.get('organization'), q.get('type')])).toEqual([['1', '5'], ['2', '5']]);
  });

  it('yields a device once when the list shifts and it reappears on the next page, and reads the rows pushed past the planned end', async () => {
    const { inventory, client } = await setup(fakeFleet(14, 10));
    // A device added mid-sweep with a lower id pushes every later row one place down.
    onListRequest(inventory, 'offset=7', () => inventory.devices.push(fakeDevice(1)));
    const pages = await readAll(client, 7);
    const seen = pages.flatMap((p) => p.devices.map((d) => d.id));
    expect(seen).toEqual(Array.from({ length: 14 }, (_, i) => i + 10));
    expect(pages.reduce((n, p) => n + p.duplicates, 0)).toBe(1);
    // The count grew from 14 to 15: the page at 7 says so, and offset 14 (23, shifted there) was read too.
    expect(pages.map((p) => [p.offset, p.count, p.listingCount, p.countChanged])).toEqual([[0, 14, 14, false], [7, 15, 14, true], [14, 15, 14, true]]);
  });

  it('reports malformed rows as invalid with their id, name and place on the page, and still yields the good ones', async () => {
    const { client } = await setup([fakeDevice(1), fakeDevice(2, { hostname: '-f' }), fakeDevice(3)]);
    const [page] = await readAll(client);
    expect(page?.devices.map((d) => d.id)).toEqual([1, 3]);
    expect(page?.invalid).toEqual([{ id: 2, rowId: '2', rowName: 'device-2', index: 1, reason: expect.stringMatching(/^invalid_target:/) }]);
  });

  it('gives the raw rows alongside, without management_ip or snmp_community as in the spec', async () => {
    const { client } = await setup([fakeDevice(1, { management_ip: '127.0.0.9', snmp_community: 'private' })]);
    const [page] = await readAll(client);
    expect(page?.rows).toHaveLength(1);
    expect(page?.rows[0]).not.toHaveProperty('management_ip');
    expect(page?.rows[0]).not.toHaveProperty('snmp_community');
    expect(await client.getDevice(1)).toMatchObject({ management_ip: '127.0.0.9', snmp_community: 'private' });
  });
});

describe('failures that need an operator fail at once, without retries', () => {
  it('401: names the token setting, never the token', async () => {
    const { inventory, client, sleeps } = await setup(fakeFleet(3), { token: new Secret('wrong-token') });
    const err = await failure(readAll(client));
    expect(err).toBeInstanceOf(InventoryHttpError);
    expect(err).toMatchObject({ status: 401, kind: 'unauthorized', retryable: false });
    expect((err as Error).message).toContain('INVENTORY_TOKEN / inventory.token_file');
    expect((err as Error).message).not.toContain('wrong-token');
    expect(inventory.requests).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('401 without a token at all', async () => {
    const { inventory, client } = await setup(fakeFleet(3), { token: undefined });
    expect(await failure(readAll(client))).toMatchObject({ status: 401 });
    expect(inventory.log[0]?.authorization).toBeUndefined();
  });

  it('403: says which organization the token may not read', async () => {
    const { inventory, client } = await setup(fakeFleet(3), {}, { allowedOrganizations: [123] });
    const err = await failure(readAll(client, 7, { organization: [999], type: [] }));
    expect(err).toMatchObject({ status: 403, kind: 'forbidden' });
    expect((err as Error).message).toContain('organization 999');
    expect(inventory.requests).toBe(1);
  });

  it('400: points at inventory.filters / page_size and quotes the server', async () => {
    const { inventory, client } = await setup(fakeFleet(3));
    const err = await failure(readAll(client, 101));
    expect(err).toMatchObject({ status: 400, kind: 'bad_request', retryable: false });
    expect((err as Error).message).toContain('inventory.filters');
    expect((err as Error).message).toContain('limit');
    expect(inventory.requests).toBe(1);
  });

  it('3xx: a redirect is an error, never followed, so the token stays on the configured origin', async () => {
    const { inventory, client } = await setup(fakeFleet(3));
    inventory.setFault({ kind: 'status', code: 301 });
    expect(await failure(readAll(client))).toMatchObject({ status: 301, kind: 'redirect', retryable: false });
    expect(inventory.requests).toBe(1);
  });
});

describe('transient failures are retried with backoff', () => {
  it('500 twice then success: the listing completes after two jittered backoffs', async () => {
    const { inventory, client, sleeps, metrics } = await setup(fakeFleet(5));
    inventory.setFault({ kind: 'status', code: 500, times: 2 });
    const pages = await readAll(client);
    expect(pages[0]?.devices).toHaveLength(5);
    expect(sleeps).toEqual([125, 250]); // random 0.5 × 250·2^n
    expect(await requestCount(metrics, { method: 'GET', code: '500' })).toBe(2);
    expect(await requestCount(metrics, { method: 'GET', code: '200' })).toBe(1);
  });

  it('500 beyond the retry budget surfaces as a retryable server error', async () => {
    const { inventory, client } = await setup(fakeFleet(5), { retries: 2 });
    inventory.setFault({ kind: 'status', code: 503 });
    expect(await failure(readAll(client))).toMatchObject({ status: 503, kind: 'server_error', retryable: true });
    expect(inventory.requests).toBe(3);
  });

  it('429 waits exactly the Retry-After seconds', async () => {
    const { inventory, client, sleeps } = await setup(fakeFleet(5));
    inventory.setFault({ kind: 'retry-after', seconds: 3, times: 1 });
    await readAll(client);
    expect(sleeps).toEqual([3_000]);
  });

  it('429 with an HTTP-date Retry-After waits until that date, by the injected clock', async () => {
    const now = Date.parse('2024-01-15T08:30:00Z');
    const { inventory, client, sleeps } = await setup(fakeFleet(5), { now: () => now });
    inventory.setFault({ kind: 'retry-after', seconds: 'Mon, 15 Jan 2024 08:30:05 GMT', times: 1 });
    await readAll(client);
    expect(sleeps).toEqual([5_000]);
  });

  it('caps an absurd Retry-After so one header cannot stall the sweep', async () => {
    const { inventory, client, sleeps } = await setup(fakeFleet(5), { maxRetryAfterMs: 30_000 });
    inventory.setFault({ kind: 'retry-after', seconds: 86_400, times: 1 });
    await readAll(client);
    expect(sleeps).toEqual([30_000]);
  });

  it('a body cut off mid-way is retried', async () => {
    const { inventory, client, metrics } = await setup(fakeFleet(5));
    inventory.setFault({ kind: 'truncated', times: 1 });
    expect((await readAll(client))[0]?.devices).toHaveLength(5);
    expect(await requestCount(metrics, { method: 'GET', code: 'truncated' })).toBe(1);
  });

  it('a server slower than timeoutMs times out, is retried, then fails as a timeout', async () => {
    const { inventory, client, metrics } = await setup(fakeFleet(5), { timeoutMs: 100, retries: 1 });
    inventory.setFault({ kind: 'delay', ms: 5_000 });
    const err = await failure(readAll(client));
    expect(err).toBeInstanceOf(InventoryNetworkError);
    expect(err).toMatchObject({ kind: 'timeout', retryable: true });
    expect(inventory.requests).toBe(2);
    expect(await requestCount(metrics, { method: 'GET', code: 'timeout' })).toBe(2);
  });

  it('an unreachable inventory is a connect error that says to check inventory.url', async () => {
    const port = await freePort();
    const sleeps: number[] = [];
    const http = createInventoryHttp({ url: `http://127.0.0.1:${port}/api/v1`, token: undefined, timeoutMs: 1_000, retries: 1, sleep: async (ms) => void sleeps.push(ms) });
    cleanups.push(() => http.close());
    const err = await failure(http.getJson('/inventory_device/?limit=1&offset=0'));
    expect(err).toMatchObject({ kind: 'connect', retryable: true });
    expect((err as Error).message).toContain('inventory.url');
    expect(sleeps).toHaveLength(1);
  });

  it('an aborted sweep stops at once and is not retried', async () => {
    const { inventory, client } = await setup(fakeFleet(5));
    inventory.setFault({ kind: 'delay', ms: 5_000 });
    const controller = new AbortController();
    const listing = readAllWithSignal(client, controller.signal);
    setImmediate(() => controller.abort());
    expect(await failure(listing)).toMatchObject({ kind: 'aborted', retryable: false });
  });

  it('a sweep whose signal is already aborted sends nothing', async () => {
    const { inventory, client } = await setup(fakeFleet(5));
    expect(await failure(readAllWithSignal(client, AbortSignal.abort()))).toMatchObject({ kind: 'aborted' });
    expect(inventory.requests).toBe(0);
  });
});

describe('the token is a secret', () => {
  it('never appears in debug logs, error messages or metrics, even across retries and failures', async () => {
    let logged = '';
    const sink = new Writable({ write: (chunk, _enc, done) => void ((logged += String(chunk)), done()) });
    const { inventory, client, metrics } = await setup(fakeFleet(3), { logger: createLogger('trace', sink) });
    inventory.setFault({ kind: 'status', code: 502, times: 1 });
    await readAll(client);
    inventory.setFault({ kind: 'status', code: 401 });
    const err = await failure(readAll(client));
    expect(logged).toContain('retrying');
    for (const text of [logged, (err as Error).message, JSON.stringify(err), await metrics.registry.metrics()]) {
      expect(text).not.toContain(TOKEN);
    }
  });
});

async function readAllWithSignal(client: InventoryClient, signal: AbortSignal) {
  for await (const _page of client.listDevices({ pageSize: 7, filters: { organization: [], type: [] }, signal })) void _page;
}

describe('malformed answers', () => {
  it('a page that is not JSON fails alone: a MalformedPageError naming the offset, not retried, and the other pages are read', async () => {
    const { inventory, client } = await setup(fakeFleet(21));
    inventory.setFault({ kind: 'malformed', path: 'offset=7' });
    const items = [];
    for await (const item of client.listDevices({ pageSize: 7, filters: { organization: [], type: [] }, concurrency: 4 })) items.push(item);
    const failed = items.filter((i) => !i.ok);
    expect(failed).toHaveLength(1);
    expect(failed[0]?.error).toBeInstanceOf(MalformedPageError);
    expect(failed[0]?.error).toMatchObject({ offset: 7, retryable: false });
    const read = items.flatMap((i) => (i.ok ? i.devices.map((d) => d.id) : [])).sort((a, b) => a - b);
    expect(read).toEqual([...Array.from({ length: 7 }, (_, i) => i + 1), ...Array.from({ length: 7 }, (_, i) => i + 15)]);
    expect(inventory.requests).toBe(3);
  });
});

describe('writing status back', () => {
  it('PATCHes exactly {"status": false} to the device and the inventory records the change', async () => {
    const { inventory, client } = await setup([fakeDevice(7, { status: true })]);
    await client.patchStatus(7, false);
    expect(inventory.patches).toEqual([{ id: 7, body: { status: false }, at: expect.any(Number) }]);
    expect(inventory.log.at(-1)).toMatchObject({ method: 'PATCH', url: '/api/v1/inventory_device/7/', authorization: `Bearer ${TOKEN}` });
    expect(inventory.devices[0]?.status).toBe(false);
    expect(inventory.devices[0]?.updated_at).not.toBe('2024-01-15T08:30:00Z');
  });

  it('a PATCH for a device that is gone is a typed, non-retryable 404', async () => {
    const { inventory, client, metrics } = await setup([fakeDevice(7)]);
    const err = await failure(client.patchStatus(9999, true));
    expect(err).toBeInstanceOf(InventoryHttpError);
    expect(err).toMatchObject({ status: 404, kind: 'not_found', retryable: false, method: 'PATCH', path: '/api/v1/inventory_device/9999/' });
    expect(inventory.requests).toBe(1);
    expect(await requestCount(metrics, { method: 'PATCH', code: '404' })).toBe(1);
  });

  it('a PATCH rejected with 429 carries retryAfterMs for the reporter backoff', async () => {
    const { inventory, client } = await setup([fakeDevice(7)], { retries: 0 });
    inventory.setFault({ kind: 'retry-after', seconds: 4, method: 'PATCH' });
    expect(await failure(client.patchStatus(7, false))).toMatchObject({ status: 429, retryable: true, retryAfterMs: 4_000 });
  });
});
