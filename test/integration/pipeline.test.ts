import { Queue, type Worker } from 'bullmq';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/index.js';
import { InventoryClient } from '../../src/inventory/client.js';
import type { Device } from '../../src/inventory/device.js';
import { createInventoryHttp } from '../../src/inventory/http.js';
import { createLogger } from '../../src/log/logger.js';
import { DeviceSeriesStore } from '../../src/metrics/device-series.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { Probe, ProbeTarget } from '../../src/probes/types.js';
import { PROBE_QUEUE, REPORT_QUEUE, type ProbeJobData, type ReportJobData } from '../../src/queue/jobs.js';
import { GroupCoverage } from '../../src/queue/group-coverage.js';
import { PendingProbes } from '../../src/queue/pending-probes.js';
import { DeviceCommunities } from '../../src/inventory/communities.js';
import { enqueueProbeBatch } from '../../src/queue/probe-queue.js';
import { slotDelayMs } from '../../src/scheduler/phase.js';
import { connectRedis } from '../../src/redis/connection.js';
import { startReportWorker } from '../../src/reporter/report-worker.js';
import { FlipLog } from '../../src/status/flip-log.js';
import { MassOutageGuard } from '../../src/status/mass-outage-guard.js';
import { StatusStore } from '../../src/status/store.js';
import { startProbeWorkers } from '../../src/worker/probe-worker.js';
import { waitFor } from '../support/daemon.js';
import { fakeFleet, startInventoryServer } from '../support/inventory-server.js';
import { singleRedis, startRedis, type ThrowAwayRedis } from '../support/redis-server.js';

const TOKEN = 'pipeline-token-0c1d';
const logger = createLogger('silent');
let server: ThrowAwayRedis;
let prefixes = 0;

/** Simulates the devices: the test decides which ones answer. */
class SimulatedFleet implements Probe {
  readonly kind = 'icmp' as const;
  readonly down = new Set<number>();
  async run(target: ProbeTarget) {
    const down = this.down.has(target.deviceId);
    return { kind: this.kind, outcome: down ? ('down' as const) : ('up' as const), reason: down ? 'no-reply' : 'ok', detail: '', durationMs: 0 };
  }
}

async function testConfig(inventoryUrl: string, patchesPerSecond = 50): Promise<Config> {
  const yaml = `
status: { down_after: 2, up_after: 1, mass_outage: { enabled: false } }
reporter: { patches_per_second: ${patchesPerSecond}, attempts: 20, backoff_ms: 50, max_backoff_ms: 200 }
probes: { snmp: { enabled: false } }
`;
  const loaded = await loadConfig({ file: 'pipeline.yaml', readFile: async () => yaml, env: { INVENTORY_URL: inventoryUrl, INVENTORY_TOKEN: TOKEN, REDIS_URL: server.url } });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  return loaded.config;
}

/** Queues, workers, store and inventory of one test, under a prefix of its own. */
async function startPipeline(opts: { devices?: number; patchesPerSecond?: number; workers?: boolean } = {}) {
  const inventory = await startInventoryServer({ token: TOKEN, devices: fakeFleet(opts.devices ?? 2) });
  const config = await testConfig(inventory.url, opts.patchesPerSecond);
  const prefix = `pipe${++prefixes}`;
  const redis = connectRedis(singleRedis(server.url), logger, 'pipeline-test');
  const metrics = new Metrics(new Registry(), { defaultMetrics: false });
  const probeQueue = new Queue<ProbeJobData>(PROBE_QUEUE, { connection: redis, prefix });
  const reportQueue = new Queue<ReportJobData>(REPORT_QUEUE, { connection: redis, prefix });
  const store = new StatusStore(redis, prefix);
  const pending = new PendingProbes(redis, prefix);
  const communities = new DeviceCommunities(redis, prefix);
  const fleet = new SimulatedFleet();
  const http = createInventoryHttp({ url: config.inventory.url, token: config.inventory.token, timeoutMs: 5_000, retries: 0 });
  const client = new InventoryClient(http);
  const guard = new MassOutageGuard(redis, prefix, { enabled: false, share: 1, minDevices: 1, intervalMs: 60_000 });
  const now = () => Date.now();
  const workers: Worker[] = [];
  const startWorkers = () => {
    workers.push(
      ...startProbeWorkers(
        { config, probes: { icmp: fleet }, store, pending: () => pending, coverage: new GroupCoverage(redis, prefix), communities, series: new DeviceSeriesStore(redis, prefix), flips: new FlipLog(redis, prefix), guard, reportQueue, metrics, logger, now },
        redis,
        prefix,
        ['default'],
      ),
      startReportWorker({ config, inventory: client, store, metrics, logger, now }, redis, prefix),
    );
  };
  if (opts.workers !== false) startWorkers();
  let cycle = 0;

  const p = {
    inventory, config, redis, metrics, probeQueue, reportQueue, store, pending, fleet, workers, startWorkers,
    /** What the sweep reads: every device on the inventory's pages, as parsed. */
    async read(): Promise<Device[]> {
      const devices: Device[] = [];
      for await (const page of client.listDevices({ pageSize: 100, filters: config.inventory.filters })) {
        if (!page.ok) throw page.error;
        devices.push(...page.devices);
      }
      return devices;
    },
    /** Enqueues one cycle's probes as one job (no phase delay) observed at `observedAtMs`. */
    enqueue(devices: Device[], observedAtMs = Date.now(), cycleStartMs?: number) {
      cycle = cycleStartMs ?? Math.max(cycle + 1, Date.now() - 1);
      const batch = devices.map((device) => ({ device, observedAtMs }));
      return enqueueProbeBatch({ queue: probeQueue, pending, cycle, slot: 0, staleClaimMs: 180_000, delayMs: slotDelayMs(0, cycle, Date.now()), communities }, batch);
    },
    /** One sweep, then waits until every probe it queued (and every write that followed) is done. */
    async sweep(opts: { writes?: boolean } = {}) {
      await p.enqueue(await p.read());
      await waitFor('the probe queue to drain', () => idle(probeQueue));
      if (opts.writes !== false) await waitFor('the report queue to drain', () => idle(reportQueue));
    },
    patches: () => inventory.patches.map((x) => ({ id: x.id, body: x.body })),
    patchRequests: () => inventory.log.filter((r) => r.method === 'PATCH').length,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all([probeQueue.close(), reportQueue.close(), http.close(), inventory.close()]);
      redis.disconnect();
    },
  };
  return p;
}
type Pipeline = Awaited<ReturnType<typeof startPipeline>>;

/** Jobs not yet finished: waiting, retrying after a backoff, or running. */
async function pending(queue: Queue): Promise<number> {
  const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}
const idle = async (queue: Queue) => (await pending(queue)) === 0;

async function counter(metric: Metrics['patchesTotal'] | Metrics['flipsTotal'] | Metrics['patchFailuresTotal'], labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val)).reduce((sum, v) => sum + v.value, 0);
}

let pipe: Pipeline | undefined;

/** Device 1 goes down and the inventory answers its PATCH with `code`, a status not worth retrying: waits until the write failed for good. */
async function writeFailingForGood(code: number): Promise<Pipeline> {
  const p = (pipe = await startPipeline({ devices: 2 }));
  p.inventory.setFault({ kind: 'status', code, method: 'PATCH' });
  p.fleet.down.add(1);
  await p.sweep({ writes: false });
  await p.sweep({ writes: false });
  await waitFor('the write to fail for good', async () => (await p.reportQueue.getFailedCount()) === 1);
  return p;
}
beforeAll(async () => {
  server = await startRedis();
});
afterEach(async () => {
  await pipe?.close();
  pipe = undefined;
});
afterAll(async () => {
  await server?.stop();
});

describe('pipeline: sweep → probe worker → status store → report worker → inventory PATCH', () => {
  it('a device that stays down flips once and is PATCHed once with {"status": false}; a stable device never', async () => {
    pipe = await startPipeline({ devices: 2 });
    pipe.fleet.down.add(1);
    for (let i = 0; i < 5; i++) await pipe.sweep();

    expect(pipe.patches()).toEqual([{ id: 1, body: { status: false } }]);
    expect(await counter(pipe.metrics.flipsTotal, { to: 'down' })).toBe(1);
    expect(pipe.inventory.devices.find((d) => d.id === 1)?.status).toBe(false);
    expect((await pipe.store.get(2))?.status).toBe('up');
  });

  it('an inventory outage during a flip: the PATCH is retried with backoff and delivered once after the outage', async () => {
    pipe = await startPipeline({ devices: 2 });
    pipe.inventory.setFault({ kind: 'status', code: 500, method: 'PATCH' });
    pipe.fleet.down.add(1);
    await pipe.sweep({ writes: false });
    await pipe.sweep({ writes: false });
    await waitFor('three failed PATCH attempts', () => pipe!.patchRequests() >= 3);
    // Sweeps during the outage still see "up" in the inventory: the pending write is not doubled.
    await pipe.sweep({ writes: false });
    expect(await pending(pipe.reportQueue)).toBe(1);

    pipe.inventory.setFault(null);
    await waitFor('the write to be delivered', () => pipe!.inventory.patches.length > 0);
    await waitFor('the report queue to drain', () => idle(pipe!.reportQueue));
    await pipe.sweep();

    expect(pipe.patches()).toEqual([{ id: 1, body: { status: false } }]);
    expect(await counter(pipe.metrics.patchFailuresTotal, { reason: 'http_5xx' })).toBeGreaterThanOrEqual(3);
    expect(await counter(pipe.metrics.patchesTotal, { result: 'written' })).toBe(1);
  });

  it('Down then Up during an outage: nothing stale is delivered and the inventory ends Up', async () => {
    pipe = await startPipeline({ devices: 2 });
    pipe.inventory.setFault({ kind: 'status', code: 500, method: 'PATCH' });
    pipe.fleet.down.add(1);
    await pipe.sweep({ writes: false });
    await pipe.sweep({ writes: false });
    await waitFor('two failed PATCH attempts', () => pipe!.patchRequests() >= 2);

    pipe.fleet.down.delete(1);
    await pipe.sweep({ writes: false });
    expect((await pipe.store.get(1))?.status).toBe('up');
    // The pending write, on its next attempt, finds nothing to change and ends.
    await waitFor('the pending write to end', () => idle(pipe!.reportQueue));
    pipe.inventory.setFault(null);
    await pipe.sweep();
    await pipe.sweep();

    expect(pipe.patches()).toEqual([]);
    expect(pipe.inventory.devices.find((d) => d.id === 1)?.status).toBe(true);
    expect(await counter(pipe.metrics.flipsTotal, {})).toBe(2);
    expect(await counter(pipe.metrics.patchesTotal, { result: 'skipped' })).toBeGreaterThanOrEqual(1);
  });

  it('a 404 on PATCH drops the device\'s state, counts it as gone, and is not retried', async () => {
    pipe = await writeFailingForGood(404);

    const [failed] = await pipe.reportQueue.getFailed();
    expect(failed?.attemptsMade).toBe(1);
    expect(pipe.patchRequests()).toBe(1);
    expect(await idle(pipe.reportQueue)).toBe(true);
    expect(await pipe.store.get(1)).toBeUndefined();
    expect(await counter(pipe.metrics.patchesTotal, { result: 'gone' })).toBe(1);
  });

  it('a PATCH the inventory rejects (400) is not retried; one refused for lack of permission (403) counts as unauthorized and is retried', async () => {
    pipe = await writeFailingForGood(400);
    expect(pipe.patchRequests()).toBe(1);
    expect(await counter(pipe.metrics.patchFailuresTotal, { reason: 'rejected' })).toBe(1);

    pipe.inventory.setFault({ kind: 'status', code: 403, method: 'PATCH' });
    await pipe.sweep({ writes: false });
    await waitFor('two refused attempts', async () => (await counter(pipe!.metrics.patchFailuresTotal, { reason: 'unauthorized' })) >= 2);
    pipe.inventory.setFault(null);
    await waitFor('the write to be delivered', () => pipe!.inventory.patches.length > 0);
    expect(pipe.patches()).toEqual([{ id: 1, body: { status: false } }]);
  });

  it('a device never has more than one pending probe: a second enqueue in the same or next cycle is already pending', async () => {
    pipe = await startPipeline({ devices: 3, workers: false });
    const devices = await pipe.read();
    // Cycles in the past, so no job waits for its phase.
    const cycleStartMs = Date.now() - 200_000;
    expect(await pipe.enqueue(devices, Date.now(), cycleStartMs)).toEqual({ added: 3, alreadyPending: 0 });
    expect(await pipe.enqueue(devices, Date.now(), cycleStartMs)).toEqual({ added: 0, alreadyPending: 3 });
    expect(await pipe.enqueue(devices, Date.now(), cycleStartMs + 60_000)).toEqual({ added: 0, alreadyPending: 3 });
    // One job holds the three devices; the repeats added none.
    expect(await pipe.probeQueue.getWaitingCount()).toBe(1);
    // A claim older than three cycles belongs to a job that was lost: that sweep queues the device again.
    expect(await pipe.enqueue(devices.slice(0, 1), Date.now(), cycleStartMs + 180_001)).toEqual({ added: 1, alreadyPending: 0 });

    // Once probed, the device may be queued again: each job releases only its own sweep's claims.
    pipe.startWorkers();
    await waitFor('the probes to run', () => idle(pipe!.probeQueue));
    expect(await pipe.enqueue(devices)).toEqual({ added: 3, alreadyPending: 0 });
  });

  it('a written status is not PATCHed again by a sweep that read the old status before the PATCH landed', async () => {
    pipe = await startPipeline({ devices: 1 });
    pipe.fleet.down.add(1);
    const before = await pipe.read();
    await pipe.sweep();
    await pipe.sweep();
    expect(pipe.patches()).toEqual([{ id: 1, body: { status: false } }]);
    const writtenAtMs = (await pipe.store.get(1))?.writtenAtMs as number;

    // The page still said "up": read after the previous sweep, before our PATCH landed.
    expect(before[0]?.inventoryStatus).toBe(true);
    await pipe.enqueue(before, writtenAtMs - 1);
    await waitFor('the stale probe to run', () => idle(pipe!.probeQueue));
    await waitFor('the report queue to drain', () => idle(pipe!.reportQueue));
    expect(pipe.patches()).toHaveLength(1);

    // Someone sets it back to "up" after our write: the next sweep repairs it.
    const device = pipe.inventory.devices[0];
    if (device) device.status = true;
    await pipe.sweep();
    expect(pipe.patches()).toEqual([
      { id: 1, body: { status: false } },
      { id: 1, body: { status: false } },
    ]);
  });

  it('the reporter\'s rate limit spreads the PATCHes of many flips, and each device is written exactly once', async () => {
    pipe = await startPipeline({ devices: 6, patchesPerSecond: 2 });
    const reporter = pipe.workers[1];
    expect(reporter?.opts.limiter).toEqual({ max: 2, duration: 1_000 });
    for (let id = 1; id <= 6; id++) pipe.fleet.down.add(id);
    await pipe.sweep({ writes: false });
    await pipe.sweep({ writes: false });
    await waitFor('all six writes', () => pipe!.inventory.patches.length >= 6, 20_000);
    await waitFor('the report queue to drain', () => idle(pipe!.reportQueue));

    expect(pipe.patches().map((x) => x.id).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(pipe.patches().every((x) => (x.body as { status: boolean }).status === false)).toBe(true);
    // Loose on purpose: at 2 per second six writes need three windows; only a limiter that let
    // them all through at once could land them inside one second.
    const at = pipe.inventory.patches.map((x) => x.at);
    expect(Math.max(...at) - Math.min(...at)).toBeGreaterThanOrEqual(1_000);
  });
});
