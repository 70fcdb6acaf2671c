import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Queue, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config, Role } from './config/types.js';
import { createInventoryHttp } from './inventory/http.js';
import { InventoryClient } from './inventory/client.js';
import { DetailsCache } from './inventory/details.js';
import type { Logger } from './log/logger.js';
import { Metrics } from './metrics/metrics.js';
import { refreshQueueGauges } from './metrics/queue-gauges.js';
import { startHttpServer } from './metrics/server.js';
import { checkReadiness, lastSweepKey } from './lifecycle/readiness.js';
import { Shutdown } from './lifecycle/shutdown.js';
import { checkIcmpPermission } from './probes/icmp.js';
import { createProbes } from './probes/registry.js';
import { PROBE_QUEUE, REPORT_QUEUE, type ProbeJobData, type ReportJobData } from './queue/jobs.js';
import { enqueueProbes } from './queue/probe-queue.js';
import { connectRedis } from './queue/redis.js';
import { startReportWorker } from './reporter/report-worker.js';
import { CycleLock } from './scheduler/cycle-lock.js';
import { Scheduler } from './scheduler/scheduler.js';
import { BoundedSet, runSweep, type SweepPage } from './scheduler/sweep.js';
import { StatusStore } from './status/store.js';
import { startProbeWorker } from './worker/probe-worker.js';

export interface Daemon {
  shutdown: Shutdown;
  httpPort: number;
}

interface Shared {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  redis: Redis;
  now: () => number;
  shutdown: Shutdown;
}

/** Composition root: config → clients → roles → HTTP → signal handlers. */
export async function runDaemon(config: Config, role: Role, logger: Logger): Promise<Daemon> {
  const now = () => Date.now();
  const metrics = new Metrics();
  const redis = connectRedis(config.redis.url, logger, 'main');
  const shutdown = new Shutdown(logger, config.shutdown.grace_seconds * 1000);
  const shared: Shared = { config, logger, metrics, redis, now, shutdown };
  const reportQueue = new Queue<ReportJobData>(REPORT_QUEUE, { connection: redis, prefix: config.redis.prefix });
  const probeQueue = new Queue<ProbeJobData>(PROBE_QUEUE, { connection: redis, prefix: config.redis.prefix });

  const scheduling = role !== 'worker' ? startScheduler(shared, probeQueue) : undefined;
  const working = role !== 'scheduler' ? await startWorkers(shared, reportQueue) : undefined;
  const scheduler = scheduling?.scheduler;
  const workers = working?.workers ?? [];

  const startedAtMs = now();
  const http = await startHttpServer(
    {
      registry: metrics.registry,
      beforeScrape: () => refreshQueueGauges(metrics, { probe: probeQueue, report: reportQueue }, reportQueue),
      readiness: () =>
        checkReadiness({
          redis,
          prefix: config.redis.prefix,
          now,
          intervalMs: config.schedule.interval_seconds * 1000,
          startedAtMs,
          scheduler: scheduler !== undefined,
          workersRunning: workers.length ? () => workers.every((w) => w.isRunning()) : undefined,
        }),
    },
    config.metrics.host,
    config.metrics.port,
  );

  // Order matters: stop new sweeps, let in-flight jobs finish, then close what they write through.
  if (scheduling) shutdown.add('scheduler', () => scheduling.scheduler.stop());
  shutdown.add('workers', () => Promise.all(workers.map((w) => w.close())));
  shutdown.add('clients', () => Promise.all([scheduling?.close(), working?.close()]));
  shutdown.add('queues', () => Promise.all([probeQueue.close(), reportQueue.close()]));
  shutdown.add('http', () => http.close());
  shutdown.add('redis', () => redis.quit().catch(() => redis.disconnect()));
  shutdown.installSignalHandlers();

  logger.info({ role, metricsPort: http.port, prefix: config.redis.prefix }, 'inventory-prober running');
  return { shutdown, httpPort: http.port };
}

function startScheduler(s: Shared, probeQueue: Queue<ProbeJobData>): { scheduler: Scheduler; close: () => Promise<void> } {
  const { config, logger, metrics, redis, now } = s;
  const log = logger.child({ component: 'scheduler' });
  const http = createInventoryHttp({ url: config.inventory.url, token: config.inventory.token, timeoutMs: config.inventory.timeout_ms, retries: config.inventory.retries, metrics, logger: log });
  const inventory = new InventoryClient(http);
  const details = new DetailsCache({ redis, prefix: config.redis.prefix, inventory, concurrency: config.inventory.detail_concurrency, logger: log });
  const warned = new BoundedSet();
  const lock = new CycleLock(redis, config.redis.prefix, `${hostname()}:${process.pid}:${randomUUID()}`);

  const pages = async function* (signal: AbortSignal): AsyncIterable<SweepPage> {
    for await (const page of inventory.listDevices({ pageSize: config.inventory.page_size, filters: config.inventory.filters, signal })) {
      yield { ...page, devices: await details.enrich(page.devices, page.rows) };
    }
  };
  const scheduler = new Scheduler(
    {
      lock,
      now,
      metrics,
      logger: log,
      sweep: async (cycle, intervalMs, signal) => {
        const timing = { cycleStartMs: cycle, intervalMs, spread: config.schedule.spread };
        const dispatch = (devices: SweepPage['devices'], observedAtMs: number) => enqueueProbes(probeQueue, devices, timing, observedAtMs);
        const summary = await runSweep({ pages, dispatch, now, metrics, logger: log, warned }, cycle, signal);
        await redis.set(lastSweepKey(config.redis.prefix), String(now()));
        return summary;
      },
    },
    { intervalSeconds: config.schedule.interval_seconds, cron: config.schedule.cron },
  );
  scheduler.start();
  return { scheduler, close: () => http.close() };
}

async function startWorkers(s: Shared, reportQueue: Queue<ReportJobData>): Promise<{ workers: Worker[]; close: () => Promise<void> }> {
  const { config, logger, metrics, redis, now } = s;
  await reportIcmpPermission(config, logger);
  const probes = createProbes(config);
  const store = new StatusStore(redis, config.redis.prefix);
  const http = createInventoryHttp({ url: config.inventory.url, token: config.inventory.token, timeoutMs: config.inventory.timeout_ms, retries: 0, metrics, logger });
  const inventory = new InventoryClient(http);
  const probeWorker = startProbeWorker({ config, probes, store, reportQueue, metrics, logger, now }, redis, config.redis.prefix);
  const reportWorker = startReportWorker({ config, inventory, store, metrics, logger, now }, redis, config.redis.prefix);
  const close = async () => {
    await Promise.all(Object.values(probes).map((p) => p.close?.()));
    await http.close();
  };
  return { workers: [probeWorker, reportWorker], close };
}

async function reportIcmpPermission(config: Config, logger: Logger): Promise<void> {
  if (!config.probes.icmp.enabled) return;
  const icmp = await checkIcmpPermission();
  if (icmp.ok) return;
  logger.error({ component: 'worker', reason: icmp.reason, hint: icmp.hint }, 'ICMP is not permitted: every ICMP probe will be an error and count against no device');
}
