import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Queue, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config, Role } from './config/types.js';
import { InventoryClient } from './inventory/client.js';
import { DetailsCache } from './inventory/details.js';
import { createInventoryHttp } from './inventory/http.js';
import { checkReadiness } from './lifecycle/readiness.js';
import { Shutdown } from './lifecycle/shutdown.js';
import type { Logger } from './log/logger.js';
import { DeviceSeriesStore } from './metrics/device-series.js';
import { MetricsLeader } from './metrics/leader.js';
import { Metrics } from './metrics/metrics.js';
import { startHttpServer } from './metrics/server.js';
import { createStatusRoutes } from './metrics/status-routes.js';
import { checkIcmpPermission } from './probes/icmp.js';
import { createProbes } from './probes/registry.js';
import { PROBE_QUEUE, REPORT_QUEUE, type ProbeJobData, type ReportJobData } from './queue/jobs.js';
import { connectRedis } from './queue/redis.js';
import { startReportWorker } from './reporter/report-worker.js';
import { createCycleSweep } from './scheduler/cycle-sweep.js';
import { CycleLock } from './scheduler/cycle-lock.js';
import { Scheduler } from './scheduler/scheduler.js';
import { FlipLog } from './status/flip-log.js';
import { MassOutageGuard } from './status/mass-outage-guard.js';
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
  store: StatusStore;
  series: DeviceSeriesStore;
  guard: MassOutageGuard;
  owner: string;
}

interface Role_ {
  stop: () => Promise<unknown>;
  close: () => Promise<unknown>;
}

/** Composition root: config → clients → roles → HTTP → signal handlers. */
export async function runDaemon(config: Config, role: Role, logger: Logger): Promise<Daemon> {
  const now = () => Date.now();
  const prefix = config.redis.prefix;
  const metrics = new Metrics();
  const redis = connectRedis(config.redis.url, logger, 'main');
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const guard = new MassOutageGuard(redis, prefix, {
    enabled: config.status.mass_outage.enabled,
    share: config.status.mass_outage.share,
    minDevices: config.status.mass_outage.min_devices,
    intervalMs: config.schedule.interval_seconds * 1000,
  });
  const s: Shared = { config, logger, metrics, redis, now, owner, guard, store: new StatusStore(redis, prefix), series: new DeviceSeriesStore(redis, prefix) };
  const probeQueue = new Queue<ProbeJobData>(PROBE_QUEUE, { connection: redis, prefix });
  const reportQueue = new Queue<ReportJobData>(REPORT_QUEUE, { connection: redis, prefix });

  const scheduling = role !== 'worker' ? startScheduler(s, probeQueue) : undefined;
  const working = role !== 'scheduler' ? await startWorkers(s, reportQueue) : undefined;
  const leader = new MetricsLeader(redis, prefix, owner);
  leader.start();

  const startedAtMs = now();
  const http = await startHttpServer(
    {
      registry: metrics.registry,
      ...createStatusRoutes({ config, redis, metrics, leader, guard, series: s.series, flips: new FlipLog(redis, prefix), queues: { probe: probeQueue, report: reportQueue } }),
      readiness: () =>
        checkReadiness({
          redis,
          prefix,
          now,
          intervalMs: config.schedule.interval_seconds * 1000,
          startedAtMs,
          scheduler: scheduling !== undefined,
          workersRunning: working?.running,
        }),
    },
    config.metrics.host,
    config.metrics.port,
  );

  // Order matters: stop new sweeps, let in-flight jobs finish, then close what they write through.
  const shutdown = new Shutdown(logger, config.shutdown.grace_seconds * 1000);
  if (scheduling) shutdown.add('scheduler', scheduling.stop);
  if (working) shutdown.add('workers', working.stop);
  shutdown.add('clients', () => Promise.all([scheduling?.close(), working?.close(), leader.stop()]));
  shutdown.add('queues', () => Promise.all([probeQueue.close(), reportQueue.close()]));
  shutdown.add('http', () => http.close());
  shutdown.add('redis', () => redis.quit().catch(() => redis.disconnect()));
  shutdown.installSignalHandlers();

  logger.info({ role, metricsPort: http.port, prefix, owner }, 'inventory-prober running');
  return { shutdown, httpPort: http.port };
}

function startScheduler(s: Shared, probeQueue: Queue<ProbeJobData>): Role_ {
  const { config, logger, metrics, redis, now } = s;
  const log = logger.child({ component: 'scheduler' });
  const http = createInventoryHttp({ url: config.inventory.url, token: config.inventory.token, timeoutMs: config.inventory.timeout_ms, retries: config.inventory.retries, metrics, logger: log });
  const inventory = new InventoryClient(http);
  const details = new DetailsCache({ redis, prefix: config.redis.prefix, inventory, concurrency: config.inventory.detail_concurrency, logger: log });
  const sweep = createCycleSweep({ config, redis, inventory, details, probeQueue, series: s.series, store: s.store, metrics, logger: log, now });
  const lock = new CycleLock(redis, config.redis.prefix, s.owner);
  const scheduler = new Scheduler({ lock, now, metrics, logger: log, sweep }, { intervalSeconds: config.schedule.interval_seconds, cron: config.schedule.cron });
  scheduler.start();
  return { stop: () => scheduler.stop(), close: () => http.close() };
}

async function startWorkers(s: Shared, reportQueue: Queue<ReportJobData>): Promise<Role_ & { running: () => boolean }> {
  const { config, logger, metrics, redis, now, store, series, guard } = s;
  guard.start();
  metrics.icmpPermitted.set((await reportIcmpPermission(config, logger)) ? 1 : 0);
  const probes = createProbes(config);
  // The reporter's client does not retry by itself: BullMQ's backoff owns PATCH retries.
  const http = createInventoryHttp({ url: config.inventory.url, token: config.inventory.token, timeoutMs: config.inventory.timeout_ms, retries: 0, metrics, logger });
  const inventory = new InventoryClient(http);
  const flips = new FlipLog(redis, config.redis.prefix);
  const workers: Worker[] = [
    startProbeWorker({ config, probes, store, series, flips, guard, reportQueue, metrics, logger, now }, redis, config.redis.prefix),
    startReportWorker({ config, inventory, store, metrics, logger, now }, redis, config.redis.prefix),
  ];
  return {
    running: () => workers.every((w) => w.isRunning()),
    stop: async () => {
      await Promise.all(workers.map((w) => w.close()));
      await guard.stop();
    },
    close: async () => {
      await Promise.all(Object.values(probes).map((p) => p.close?.()));
      await http.close();
    },
  };
}

async function reportIcmpPermission(config: Config, logger: Logger): Promise<boolean> {
  if (!config.probes.icmp.enabled) return true;
  const icmp = await checkIcmpPermission();
  if (icmp.ok) return true;
  logger.error({ component: 'worker', reason: icmp.reason, hint: icmp.hint }, 'ICMP is not permitted: every ICMP probe will be an error and count against no device');
  return false;
}
