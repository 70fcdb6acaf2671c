import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Queue } from 'bullmq';
import type { ConfigResult } from './config/schema.js';
import type { Config, Role } from './config/types.js';
import { checkReadiness } from './lifecycle/readiness.js';
import { ConfigReloader } from './lifecycle/reload.js';
import { Shutdown } from './lifecycle/shutdown.js';
import type { Logger } from './log/logger.js';
import { DeviceSeriesStore } from './metrics/device-series.js';
import { MetricsLeader } from './metrics/leader.js';
import { Metrics } from './metrics/metrics.js';
import { startHttpServer } from './http/server.js';
import { createStatusRoutes } from './http/status-routes.js';
import { PROBE_QUEUE, REPORT_QUEUE, type ProbeJobData, type ReportJobData } from './queue/jobs.js';
import { connectRedis } from './redis/connection.js';
import { refuseUnusableRedis } from './redis/start-check.js';
import { startSchedulerRole } from './roles/scheduler-role.js';
import type { RoleContext, RunningRole } from './roles/types.js';
import { startWorkerRole } from './roles/worker-role.js';
import { FlipLog } from './status/flip-log.js';
import { MassOutageGuard } from './status/mass-outage-guard.js';
import { StatusStore } from './status/store.js';

export interface Daemon {
  shutdown: Shutdown;
  httpPort: number;
  reloader?: ConfigReloader;
}

export interface DaemonOptions {
  /** Re-reads the configuration for SIGHUP and POST /-/reload; without it, reload is off. */
  reload?: () => Promise<ConfigResult>;
  /** Ends the process when Redis is refused after start-up went on without it (tests inject it). */
  exit?: (code: number) => void;
}


interface Roles {
  scheduler?: RunningRole;
  worker?: RunningRole;
}

/**
 * Composition root: long-lived clients (Redis, queues, HTTP, metrics) built once; the roles
 * built from the current config generation, and rebuilt from a new one on reload.
 */
export async function runDaemon(initial: Config, role: Role, logger: Logger, options: DaemonOptions = {}): Promise<Daemon> {
  const now = () => Date.now();
  const prefix = initial.redis.prefix;
  const metrics = new Metrics();
  // Only processes that probe know whether ICMP works; elsewhere a 0 would read as "denied".
  if (role === 'scheduler') metrics.registry.removeSingleMetric('inventory_prober_icmp_permitted');
  const redis = connectRedis(initial.redis, logger, 'main');
  await refuseUnusableRedis(redis, logger, options.exit ?? ((code) => process.exit(code)));
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const probeQueue = new Queue<ProbeJobData>(PROBE_QUEUE, { connection: redis, prefix });
  const reportQueue = new Queue<ReportJobData>(REPORT_QUEUE, { connection: redis, prefix });
  // Without a listener BullMQ prints each connection error as a bare stack trace on stderr.
  for (const queue of [probeQueue, reportQueue]) {
    queue.on('error', (err) => logger.warn({ component: 'queue', queue: queue.name, err }, 'queue error'));
  }
  const store = new StatusStore(redis, prefix);
  const series = new DeviceSeriesStore(redis, prefix);
  const leader = new MetricsLeader(redis, prefix, owner);

  let config = initial;
  let guard = buildGuard(config, redis);
  const context = (): RoleContext => ({ config, logger, metrics, redis, now, store, series, guard, owner });
  const startRoles = async (): Promise<Roles> => ({
    scheduler: role !== 'worker' ? startSchedulerRole(context(), probeQueue) : undefined,
    worker: role !== 'scheduler' ? await startWorkerRole(context(), reportQueue) : undefined,
  });
  const stopRoles = async (r: Roles) => {
    // Stop new sweeps first, then let in-flight jobs finish, then release the roles' clients.
    await r.scheduler?.stop();
    await r.worker?.stop();
    await Promise.all([r.scheduler?.close(), r.worker?.close()]);
  };
  let roles = await startRoles();
  leader.start();

  const startedAtMs = now();
  const reloader = options.reload
    ? new ConfigReloader(options.reload, () => config, async (next) => {
        await stopRoles(roles);
        config = next;
        guard = buildGuard(config, redis);
        roles = await startRoles();
      }, logger, metrics)
    : undefined;
  const http = await startHttpServer(
    {
      registry: metrics.registry,
      ...createStatusRoutes({ config: () => config, redis, metrics, leader, guard: () => guard, series, flips: new FlipLog(redis, prefix), queues: { probe: probeQueue, report: reportQueue }, reloader }),
      readiness: () =>
        checkReadiness({
          redis,
          prefix,
          now,
          intervalMs: config.schedule.interval_seconds * 1000,
          startedAtMs,
          scheduler: roles.scheduler !== undefined,
          workersRunning: roles.worker?.running,
        }),
    },
    initial.metrics.host,
    initial.metrics.port,
  );

  const shutdown = new Shutdown(logger, initial.shutdown.grace_seconds * 1000);
  shutdown.add('roles', () => stopRoles(roles));
  shutdown.add('leader', () => leader.stop());
  shutdown.add('queues', () => Promise.all([probeQueue.close(), reportQueue.close()]));
  shutdown.add('http', () => http.close());
  shutdown.add('redis', () => redis.quit().catch(() => redis.disconnect()));
  shutdown.installSignalHandlers();
  reloader?.installSignalHandler();

  logger.info({ role, metricsPort: http.port, prefix, owner }, 'inventory-prober running');
  return { shutdown, httpPort: http.port, reloader };
}

function buildGuard(config: Config, redis: RoleContext['redis']): MassOutageGuard {
  const m = config.status.mass_outage;
  return new MassOutageGuard(redis, config.redis.prefix, {
    enabled: m.enabled,
    share: m.share,
    minDevices: m.min_devices,
    intervalMs: config.schedule.interval_seconds * 1000,
  });
}
