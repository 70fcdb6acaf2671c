import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, Secret } from '../../src/config/index.js';
import { InventoryClient } from '../../src/inventory/client.js';
import { DeviceCommunities } from '../../src/inventory/communities.js';
import { DetailsCache } from '../../src/inventory/details.js';
import { createInventoryHttp } from '../../src/inventory/http.js';
import { createLogger } from '../../src/log/logger.js';
import { DeviceSeriesStore } from '../../src/metrics/device-series.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { GroupCoverage } from '../../src/queue/group-coverage.js';
import { DEFAULT_GROUP } from '../../src/queue/jobs.js';
import { PendingProbes } from '../../src/queue/pending-probes.js';
import { ProbeQueues } from '../../src/queue/probe-queues.js';
import { connectRedis } from '../../src/redis/connection.js';
import { createCycleSweep } from '../../src/scheduler/cycle-sweep.js';
import { SweepIncompleteError, type SweepSummary } from '../../src/scheduler/sweep.js';
import { StatusStore } from '../../src/status/store.js';
import { waitFor } from '../support/daemon.js';
import { fakeDevice, fakeFleet, startInventoryServer, type FakeDevice, type InventoryServer } from '../support/inventory-server.js';
import { singleRedis, startRedis, type ThrowAwayRedis } from '../support/redis-server.js';

/**
 * The sweep as the scheduler runs it (createCycleSweep: concurrent pages, details beside the
 * sweep, the probe queue, fleet membership) against the real test inventory server and a real
 * Redis. What the probes would check is read back from the probe queue's jobs.
 */

const TOKEN = 'concurrent-sweep-token';
const INTERVAL_MS = 60_000;
const logger = createLogger('silent');
let server: ThrowAwayRedis;
let prefixes = 0;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

interface Options {
  devices: FakeDevice[];
  inventory?: string;
  getLatencyMs?: number;
  /** `full` list rows carry management_ip and snmp_community: no detail needed. */
  listRows?: 'spec' | 'full';
  /** Replaces the retry/pause sleep, so a test can hold a pause open. */
  sleep?: (ms: number) => Promise<void>;
}

async function setup(o: Options) {
  const inventory = await startInventoryServer({ token: TOKEN, devices: o.devices, getLatencyMs: o.getLatencyMs, listRows: o.listRows ?? 'full' });
  const yaml = `
inventory: { page_size: 10, page_concurrency: 4, detail_concurrency: 4, retries: 2, ${o.inventory ?? ''} }
schedule: { interval_seconds: ${INTERVAL_MS / 1000}, spread: 0.8 }
`;
  const loaded = await loadConfig({ file: 'sweep.yaml', readFile: async () => yaml, env: { INVENTORY_URL: inventory.url, INVENTORY_TOKEN: TOKEN, REDIS_URL: server.url } });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  const config = { ...loaded.config, redis: { ...loaded.config.redis, prefix: `csweep${++prefixes}` } };
  const prefix = config.redis.prefix;
  const redis: Redis = connectRedis(singleRedis(server.url), logger, 'sweep-test');
  const metrics = new Metrics(new Registry(), { defaultMetrics: false });
  const http = createInventoryHttp({
    url: inventory.url,
    token: new Secret(TOKEN),
    timeoutMs: 5_000,
    retries: config.inventory.retries,
    concurrency: { list: config.inventory.page_concurrency, detail: config.inventory.detail_concurrency },
    metrics,
    random: () => 0.5,
    ...(o.sleep ? { sleep: o.sleep } : {}),
  });
  const client = new InventoryClient(http);
  const details = new DetailsCache({ redis, prefix, inventory: client, concurrency: config.inventory.detail_concurrency });
  const queues = new ProbeQueues(redis, prefix, () => {});
  const probeQueue = queues.get(DEFAULT_GROUP);
  const pending = new PendingProbes(redis, prefix);
  const sweep = createCycleSweep({
    config, redis, inventory: client, details, queues, pending: () => pending, coverage: new GroupCoverage(redis, prefix), communities: new DeviceCommunities(redis, prefix),
    series: new DeviceSeriesStore(redis, prefix), store: new StatusStore(redis, prefix), metrics, logger, now: Date.now,
  });
  cleanups.push(async () => {
    details.close();
    await queues.close();
    await client.close();
    await inventory.close();
    redis.disconnect();
  });
  return {
    inventory, redis, metrics, details, prefix,
    /** One sweep of a cycle starting now (or at `cycle`: a past one has no time left to wait for details). */
    sweep: (signal = new AbortController().signal, cycle = Date.now()) => sweep(cycle, INTERVAL_MS, signal),
    /** Every device id in the probe queue, once per queued check. */
    async queued(): Promise<number[]> {
      const jobs = await probeQueue.getJobs(['waiting', 'delayed', 'prioritized']);
      return jobs.flatMap((j) => j.data.devices.map((d) => d.device.id)).sort((a, b) => a - b);
    },
    fleet: async () => (await redis.smembers(`${prefix}:fleet:current`)).map(Number).sort((a, b) => a - b),
  };
}

const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const listUrls = (s: InventoryServer) => s.log.filter((r) => r.url.includes('/inventory_device/?')).map((r) => new URL(r.url, 'http://x').searchParams);

/** Runs `hook` once, as the server receives the first list request whose query matches (before answering it). */
function onListRequest(inventory: InventoryServer, match: (query: URLSearchParams) => boolean, hook: () => void): void {
  const push = inventory.log.push.bind(inventory.log);
  let done = false;
  inventory.log.push = (...items) => {
    if (!done && items.some((r) => r.url.includes('/inventory_device/?') && match(new URL(r.url, 'http://x').searchParams))) {
      done = true;
      hook();
    }
    return push(...items);
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the sweep to fail');
    },
    (err: unknown) => err,
  );
}

describe('concurrent paging', () => {
  it('queues every device of 3 organizations × 2 types once, with pages in parallel but never more than page_concurrency in flight', async () => {
    const devices = ids(1, 600).map((id) => fakeDevice(id, { organization: { id: 1 + (id % 3), name: `org-${1 + (id % 3)}` }, type: { id: 1 + (id % 2), name: `type-${1 + (id % 2)}` } }));
    const s = await setup({ devices, inventory: 'filters: { organization: [1, 2, 3], type: [1, 2] }', getLatencyMs: 20 });
    const summary = await s.sweep();
    expect(await s.queued()).toEqual(ids(1, 600));
    expect(summary).toMatchObject({ devices: 600, enqueued: 600, pages: 60, countChanges: 0, failedPages: 0, awaitingDetail: 0, requests: { list: 60, detail: 0 } });
    expect(s.inventory.maxInFlight.list).toBeGreaterThan(1);
    expect(s.inventory.maxInFlight.list).toBeLessThanOrEqual(4);
    // Offsets are computed: each (organization, type, offset) once, every offset a multiple of the page size; `next` is never followed.
    const asked = listUrls(s.inventory).map((q) => `${q.get('organization')}/${q.get('type')}/${q.get('offset')}/${q.get('limit')}`);
    expect(new Set(asked).size).toBe(60);
    expect(listUrls(s.inventory).every((q) => Number(q.get('offset')) % 10 === 0 && q.get('limit') === '10')).toBe(true);
    expect(await s.fleet()).toEqual(ids(1, 600));
  });

  it('a device listed twice (the list shifted) is queued once, and a sweep whose count changed retires nothing', async () => {
    const s = await setup({ devices: fakeFleet(50, 10) });
    await s.sweep();
    expect(await s.fleet()).toEqual(ids(10, 59));
    // Once the first page is read, device 59 leaves and device 1 arrives: every later row shifts by one.
    onListRequest(s.inventory, (q) => q.get('offset') !== '0', () => {
      s.inventory.devices.splice(s.inventory.devices.length - 1, 1);
      s.inventory.devices.unshift(fakeDevice(1));
    });
    const again = await s.sweep();
    expect(again.countChanges).toBeGreaterThan(0);
    const queued = await s.queued();
    expect(new Set(queued).size).toBe(queued.length);
    // 59 is gone from the inventory, but a sweep that saw the list move is incomplete: it is not retired.
    expect(await s.fleet()).toEqual(ids(10, 59));
  });

  it('a malformed page fails only that page: the others are queued, the sweep ends incomplete and retires nothing', async () => {
    const s = await setup({ devices: fakeFleet(100) });
    await s.sweep();
    s.inventory.devices.splice(95, 5);
    s.inventory.setFault({ kind: 'malformed', path: 'offset=20' });
    const err = await rejection(s.sweep());
    expect(err).toBeInstanceOf(SweepIncompleteError);
    expect(err).toMatchObject({ kind: 'malformed_page', summary: { failedPages: 1, pages: 9, devices: 85 } });
    expect(s.inventory.log.filter((r) => r.url.includes('offset=20'))).toHaveLength(2); // once per sweep: never retried
    // Devices 96–100 left the inventory, but with a page unread that can't be known: nothing is retired.
    expect(await s.fleet()).toEqual(ids(1, 100));
  });
});

describe('backing off', () => {
  for (const [what, fault] of [
    ['429 with Retry-After', { kind: 'retry-after', seconds: 2, path: 'offset=30', times: 1 }],
    ['503', { kind: 'status', code: 503, path: 'offset=30', times: 1 }],
  ] as const) {
    it(`${what} on one page pauses every request of the sweep, and the windows shrink`, async () => {
      const pauses: number[] = [];
      let resume = () => {};
      const sleep = (ms: number) => {
        pauses.push(ms);
        return new Promise<void>((resolve) => (resume = resolve));
      };
      const s = await setup({ devices: fakeFleet(200), sleep, getLatencyMs: 5 });
      s.inventory.setFault(fault);
      let result: SweepSummary | undefined;
      const sweeping = s.sweep().then((r) => (result = r));
      await waitFor('the pause to begin', () => pauses.length === 1);
      // Requests already on the wire finish; no new one starts while the pause lasts.
      const clientInFlight = async () => (await s.metrics.inventoryRequestsInFlight.get()).values.reduce((n, v) => n + v.value, 0);
      await waitFor('requests in flight to finish', async () => (await clientInFlight()) === 0 && (s.inventory.inFlight.list ?? 0) === 0);
      const sentBeforeResume = s.inventory.requests;
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      expect(s.inventory.requests).toBe(sentBeforeResume);
      expect(result).toBeUndefined();

      // How many list requests the server was answering as each of the next ones arrived.
      const concurrencyAfterResume: number[] = [];
      const push = s.inventory.log.push.bind(s.inventory.log);
      s.inventory.log.push = (...items) => {
        concurrencyAfterResume.push(s.inventory.inFlight.list ?? 0);
        return push(...items);
      };
      resume();
      await sweeping;
      expect(pauses).toEqual([what === '503' ? 125 : 2_000]);
      expect(await s.queued()).toEqual(ids(1, 200));
      // After the push-back the list window is halved (4 → 2), then grows back by about one request per window of successes.
      expect(concurrencyAfterResume.slice(0, 4).every((n) => n <= 2)).toBe(true);
      expect(Math.max(...concurrencyAfterResume)).toBeLessThanOrEqual(4);
    });
  }
});

describe('details beside the sweep', () => {
  const specFleet = (from: number, n: number) => fakeFleet(n, from, { management_ip: null, snmp_community: null });

  it('devices whose detail arrives while the sweep still has time are queued by that same sweep', async () => {
    const s = await setup({ devices: [...specFleet(100, 10), ...specFleet(200, 10)], listRows: 'spec' });
    s.inventory.setFault({ kind: 'delay', ms: 300, path: 'inventory_device/1' });
    const summary = await s.sweep();
    expect(summary).toMatchObject({ devices: 20, enqueued: 20, awaitingDetail: 0, requests: { list: 2, detail: 20 } });
    expect(await s.queued()).toEqual([...ids(100, 109), ...ids(200, 209)]);
  });

  it('a device whose detail has not arrived by the end of the sweep is counted, kept in the fleet, and probed next cycle', async () => {
    const s = await setup({ devices: [...specFleet(100, 10), ...specFleet(200, 10)], listRows: 'spec' });
    await s.details.enrich(
      (await collect(s)).filter((d) => d.id >= 200),
      s.inventory.devices.filter((d) => d.id >= 200).map((d) => ({ id: d.id })),
    );
    s.inventory.setFault({ kind: 'delay', ms: 500, path: 'inventory_device/1' });
    // A cycle that is already over: the sweep ends with its last page, whatever details are still on their way.
    const past = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS - INTERVAL_MS;
    const first = await s.sweep(undefined, past);
    expect(first).toMatchObject({ devices: 20, enqueued: 10, awaitingDetail: 10 });
    expect(await s.queued()).toEqual(ids(200, 209));
    expect((await s.metrics.sweepDevicesAwaitingDetail.get()).values[0]?.value).toBe(10);
    expect(await s.fleet()).toEqual([...ids(100, 109), ...ids(200, 209)]);

    // The fetches went on after the sweep; the next sweep finds them cached and asks for none again.
    await waitFor('the details to be cached', () => s.details.fetchesPending === 0, 10_000);
    const detailGets = s.inventory.log.filter((r) => /inventory_device\/\d+\/$/.test(r.url)).length;
    const second = await s.sweep(undefined, past + INTERVAL_MS);
    expect(second).toMatchObject({ devices: 20, enqueued: 10, alreadyPending: 10, awaitingDetail: 0, requests: { detail: 0 } });
    expect(s.inventory.log.filter((r) => /inventory_device\/\d+\/$/.test(r.url)).length).toBe(detailGets);
    expect(await s.queued()).toEqual([...ids(100, 109), ...ids(200, 209)]);
  });
});

describe('shutdown', () => {
  it('aborting the sweep cancels the pages in flight and sends no further request; closing the details stops their fetches', async () => {
    const s = await setup({ devices: fakeFleet(300, 1, { management_ip: null, snmp_community: null }), getLatencyMs: 50, listRows: 'spec' });
    const stop = new AbortController();
    const sweeping = rejection(s.sweep(stop.signal));
    await waitFor('a few pages read', () => listUrls(s.inventory).length >= 6);
    stop.abort();
    s.details.close();
    await sweeping;
    await waitFor('requests in flight to end', () => (s.inventory.inFlight.list ?? 0) + (s.inventory.inFlight.detail ?? 0) === 0);
    const sent = s.inventory.requests;
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(s.inventory.requests).toBe(sent);
    expect(listUrls(s.inventory).length).toBeLessThan(30);
    // An interrupted sweep retires nothing: no fleet was committed.
    expect(await s.fleet()).toEqual([]);
  });
});

/** The devices of the inventory as the sweep parses them. */
async function collect(s: Awaited<ReturnType<typeof setup>>) {
  const client = new InventoryClient(createInventoryHttp({ url: s.inventory.url, token: new Secret(TOKEN), timeoutMs: 5_000, retries: 0 }));
  const devices = [];
  for await (const page of client.listDevices({ pageSize: 100, filters: { organization: [], type: [] } })) if (page.ok) devices.push(...page.devices);
  await client.close();
  return devices;
}
