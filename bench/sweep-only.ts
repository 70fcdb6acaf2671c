/**
 * The scheduler's own cost of a sweep, without workers: a test inventory (BENCH_FLEETS devices,
 * BENCH_INVENTORY_LATENCY_MS added to every GET, the spec's list rows, details cached) and a
 * throw-away Redis in this process; the sweep in a child process of its own, so its CPU time
 * and peak RSS are the scheduler's alone. Prints, per sweep: CPU seconds (user + system), wall
 * time, inventory requests, devices enqueued; and the child's peak RSS (VmHWM).
 *
 *   flock /tmp/heavy.lock node dist-bench/bench/sweep-only.js
 *   BENCH_FLEETS=300000 BENCH_INVENTORY_LATENCY_MS=10 BENCH_PAGE_CONCURRENCY=32 BENCH_SWEEPS=2
 *   BENCH_CPU_PROF=<dir> (the child runs under --cpu-prof, profiles in <dir>)
 *
 * Between sweeps the child deletes the queue, claims and fleet keys (not timed), so each sweep
 * enqueues the whole fleet as a first sweep does; the detail cache stays. Figures, no assertions.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config/index.js';
import { startInventoryServer } from '../src/demo/inventory-server.js';
import { startRedis } from '../src/demo/redis-server.js';
import { DeviceCommunities } from '../src/inventory/communities.js';
import { DetailsCache } from '../src/inventory/details.js';
import { InventoryClient } from '../src/inventory/client.js';
import { createInventoryHttp, inventoryHttpSettings } from '../src/inventory/http.js';
import { createLogger } from '../src/log/logger.js';
import { DeviceSeriesStore } from '../src/metrics/device-series.js';
import { Metrics } from '../src/metrics/metrics.js';
import { GroupCoverage } from '../src/queue/group-coverage.js';
import { pendingByGroup } from '../src/queue/pending-probes.js';
import { ProbeQueues } from '../src/queue/probe-queues.js';
import { connectRedis } from '../src/redis/connection.js';
import { createCycleSweep } from '../src/scheduler/cycle-sweep.js';
import { StatusStore } from '../src/status/store.js';
import { redisKeys } from '../src/redis/keys.js';
import type { FakeDevice } from '../src/demo/fake-inventory.js';
import { buildFleet, PREFIX, writeBenchConfig } from './pipeline-fleet.js';

const TOKEN = 'bench-token';
const FLEET = Number(process.env.BENCH_FLEETS || 300_000);
const LATENCY_MS = Number(process.env.BENCH_INVENTORY_LATENCY_MS ?? 10);
const PAGE_CONCURRENCY = Number(process.env.BENCH_PAGE_CONCURRENCY || 32);
const SWEEPS = Number(process.env.BENCH_SWEEPS || 2);
const INTERVAL_SECONDS = 60;

const vmHwmMb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
const cpuSeconds = () => {
  const u = process.resourceUsage();
  return (u.userCPUTime + u.systemCPUTime) / 1e6;
};

async function parent(): Promise<void> {
  const fleet = buildFleet(FLEET, false);
  const redis = await startRedis();
  const inventory = await startInventoryServer({ token: TOKEN, devices: fleet.devices, listRows: 'spec', getLatencyMs: LATENCY_MS });
  const client = new Redis(redis.url);
  try {
    const seedStart = performance.now();
    await seedDetailsFast(client, fleet.devices);
    console.log(`  (detail cache seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s)`);
    const config = writeBenchConfig({
      inventoryUrl: inventory.url, intervalSeconds: INTERVAL_SECONDS, snmpPort: 161, upWhen: 'snmp', concurrency: 64, patchesPerSecond: 50,
      perDevice: 'off', icmpCount: 1, pageConcurrency: PAGE_CONCURRENCY, detailConcurrency: 8,
    });
    console.log(`sweep-only: ${FLEET} devices, ${LATENCY_MS} ms per GET, page_concurrency ${PAGE_CONCURRENCY}, spec list rows, details cached, ${SWEEPS} sweep(s), no workers`);
    const prof = process.env.BENCH_CPU_PROF;
    const args = [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), fileURLToPath(import.meta.url), '--child', config];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, INVENTORY_TOKEN: TOKEN, REDIS_URL: redis.url, LOG_LEVEL: 'warn' } });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) process.exitCode = 1;
  } finally {
    client.disconnect();
    await inventory.close();
    await redis.stop();
  }
}

async function sweepInChild(configFile: string): Promise<void> {
  const loaded = await loadConfig({ file: configFile, env: process.env });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  const config = loaded.config;
  const logger = createLogger('warn');
  const metrics = new Metrics();
  const redis = connectRedis(config.redis, logger, 'main');
  const prefix = config.redis.prefix;
  const queues = new ProbeQueues(redis, prefix, () => {});
  const http = createInventoryHttp({ ...inventoryHttpSettings(config.inventory), metrics, logger });
  const inventory = new InventoryClient(http);
  const details = new DetailsCache({ redis, prefix, inventory, concurrency: config.inventory.detail_concurrency, logger });
  const sweep = createCycleSweep({
    config, redis, inventory, details, queues,
    pending: pendingByGroup(redis, prefix), coverage: new GroupCoverage(redis, prefix), communities: new DeviceCommunities(redis, prefix),
    series: new DeviceSeriesStore(redis, prefix), store: new StatusStore(redis, prefix), metrics, logger, now: Date.now,
  });
  const intervalMs = INTERVAL_SECONDS * 1000;
  try {
    for (let k = 1; k <= SWEEPS; k++) {
      const cycle = Math.floor(Date.now() / intervalMs) * intervalMs + k;
      const cpu0 = cpuSeconds();
      const wall0 = performance.now();
      const s = await sweep(cycle, intervalMs, new AbortController().signal);
      const cpu = cpuSeconds() - cpu0;
      const wall = (performance.now() - wall0) / 1000;
      console.log(
        `  sweep ${k}: cpu ${cpu.toFixed(2)} s (${((cpu / Math.max(1, s.devices)) * 1e6).toFixed(1)} µs/device), wall ${wall.toFixed(2)} s, ` +
          `devices ${s.devices}, enqueued ${s.enqueued}, alreadyPending ${s.alreadyPending}, requests list/detail ${s.requests.list}/${s.requests.detail}, peak RSS so far ${vmHwmMb().toFixed(0)} MB`,
      );
      if (k < SWEEPS) await clearSweepKeys(redis, prefix);
    }
    console.log(`  peak RSS (VmHWM) ${vmHwmMb().toFixed(0)} MB`);
  } finally {
    details.close();
    await queues.close();
    await http.close();
    redis.disconnect();
  }
}

/**
 * The detail cache as DetailsCache.store writes it (updated_at of the list row, management_ip,
 * snmp_community), pipelined: seeding through DetailsCache costs minutes at 300,000 devices.
 */
async function seedDetailsFast(redis: Redis, devices: FakeDevice[]): Promise<void> {
  for (let at = 0; at < devices.length; at += 5000) {
    const pipeline = redis.pipeline();
    for (const d of devices.slice(at, at + 5000)) {
      const key = redisKeys.deviceDetail(PREFIX, d.id);
      pipeline.hset(key, { updated_at: d.updated_at, management_ip: d.management_ip ?? '', snmp_community: d.snmp_community ?? '' }).expire(key, 24 * 3600);
    }
    await pipeline.exec();
  }
}

/** Everything a sweep leaves behind except the detail cache: the next sweep starts as a first one. */
async function clearSweepKeys(redis: Redis, prefix: string): Promise<void> {
  for (const pattern of [`${prefix}:probe*`, `${prefix}:group*`, `${prefix}:fleet*`, `${prefix}:communities`, `${prefix}:sweep*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 10_000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  }
}

if (process.argv[2] === '--child') await sweepInChild(process.argv[3] as string);
else await parent();

