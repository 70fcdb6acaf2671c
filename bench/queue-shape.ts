/**
 * Queue shape: one BullMQ job per device (the daemon's first design: BullMQ deduplication id and
 * phase delay per device) against one job per batch of devices, on a throw-away redis-server.
 * The job body does nothing, so the figures are the queue's own cost per device: enqueue and
 * process (a Worker at high concurrency). Three shapes:
 *   per-device  addBulk per page of 100, one deduplicated job per device
 *   per-page    one bare job per page of 100 (the floor)
 *   per-batch   what the daemon ships: enqueueProbeBatch (claim each device in the pending hash,
 *               then one job of 100 full device records), the worker releasing the claims
 * Prints figures; asserts nothing.   Run: npm run bench:build && node dist-bench/bench/queue-shape.js [devices]
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { startRedis } from '../src/demo/redis-server.js';
import type { Device } from '../src/inventory/device.js';
import type { ProbeJobData } from '../src/queue/jobs.js';
import { PendingProbes } from '../src/queue/pending-probes.js';
import { DeviceCommunities } from '../src/inventory/communities.js';
import { enqueueProbeBatch } from '../src/queue/probe-queue.js';
import { slotDelayMs } from '../src/scheduler/phase.js';
import { cpuNow, cpuSince, processCpuMs } from './cpu.js';

const DEVICES = Number(process.argv[2] ?? 100_000);
const PAGE = 100;

interface Row {
  shape: string;
  jobs: number;
  wallS: number;
  nodeMsPer1k: number;
  redisMsPer1k: number;
}

type Shape = 'per-device' | 'per-page' | 'per-batch';

const device = (id: number): Device => ({
  id,
  name: `device-${id}`,
  target: `127.1.${(id >> 8) & 255}.${id & 255}`, // never probed: the job body does nothing
  organization: { id: 1, name: 'org-1' },
  type: { id: 2, name: 'router' },
  inventoryStatus: true,
  updatedAt: '2026-11-25T00:00:00Z',
  snmpCommunity: undefined,
});

async function run(shape: Shape, redisUrl: string, redisPid: number): Promise<Row> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const prefix = `qs-${shape}`;
  const queue = new Queue(shape, { connection, prefix });
  const pending = new PendingProbes(connection, prefix);
  const communities = new DeviceCommunities(connection, prefix);
  const cycle = Date.now() - 60_000;
  let done = 0;
  const finished = new Promise<void>((resolve) => {
    const worker = new Worker(
      shape,
      async (job) => {
        if (shape === 'per-batch') {
          const ids = (job.data as ProbeJobData).devices.map((d) => d.device.id);
          await pending.release(cycle, ids);
          done += ids.length;
        } else done += shape === 'per-device' ? 1 : (job.data as { ids: number[] }).ids.length;
        if (done >= DEVICES) resolve();
      },
      { connection, prefix, concurrency: 500 },
    );
    void worker.waitUntilReady();
    finishedWorkers.push(worker);
  });
  const cpu0 = cpuNow();
  const redis0 = processCpuMs(redisPid);
  const t0 = performance.now();
  let jobs = 0;
  for (let first = 1; first <= DEVICES; first += PAGE) {
    const ids = Array.from({ length: Math.min(PAGE, DEVICES - first + 1) }, (_, i) => first + i);
    if (shape === 'per-batch') {
      const batch = ids.map((id) => ({ device: device(id), observedAtMs: Date.now() }));
      await enqueueProbeBatch({ queue: queue as Queue<ProbeJobData>, pending, cycle, slot: 0, staleClaimMs: 180_000, delayMs: slotDelayMs(0, cycle, Date.now()), communities }, batch);
      jobs++;
      continue;
    }
    const bulk =
      shape === 'per-device'
        ? ids.map((id) => ({ name: 'probe', data: { id }, opts: { jobId: `${id}-c`, deduplication: { id: `probe:${id}` }, removeOnComplete: true } }))
        : [{ name: 'probe', data: { ids }, opts: { removeOnComplete: true } }];
    jobs += bulk.length;
    await queue.addBulk(bulk);
  }
  await finished;
  const wallS = (performance.now() - t0) / 1000;
  const node = cpuSince(cpu0).selfMs;
  const redisMs = processCpuMs(redisPid) - redis0;
  await Promise.all(finishedWorkers.splice(0).map((w) => w.close()));
  await queue.close();
  connection.disconnect();
  return { shape, jobs, wallS, nodeMsPer1k: (node / DEVICES) * 1000, redisMsPer1k: (redisMs / DEVICES) * 1000 };
}

const finishedWorkers: Worker[] = [];

async function main(): Promise<void> {
  const redis = await startRedis();
  try {
    const rows = [];
    for (const shape of ['per-device', 'per-page', 'per-batch'] as const) rows.push(await run(shape, redis.url, redis.process.pid as number));
    console.log(`queue shape, ${DEVICES} devices, pages of ${PAGE}, no-op job bodies, worker concurrency 500`);
    console.log('shape       jobs     wall s  devices/s  node CPU ms/1k devices  redis CPU ms/1k devices');
    for (const r of rows) {
      console.log(
        `${r.shape.padEnd(10)}  ${String(r.jobs).padStart(7)}  ${r.wallS.toFixed(1).padStart(6)}  ${Math.round(DEVICES / r.wallS).toString().padStart(9)}  ${r.nodeMsPer1k.toFixed(0).padStart(22)}  ${r.redisMsPer1k.toFixed(0).padStart(23)}`,
      );
    }
    const load = (await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ');
    console.log(`load average: ${load} on ${(await import('node:os')).cpus().length} CPUs`);
  } finally {
    await redis.stop();
  }
}

void main();
