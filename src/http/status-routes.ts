import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/types.js';
import { createCachedSnapshot, type FleetSnapshot } from '../metrics/fleet-snapshot.js';
import type { DeviceSeriesStore } from '../metrics/device-series.js';
import type { MetricsLeader } from '../metrics/leader.js';
import type { Metrics } from '../metrics/metrics.js';
import { refreshQueueGauges } from '../metrics/queue-gauges.js';
import { renderStatusPage } from './status-page.js';
import type { FlipLog } from '../status/flip-log.js';
import type { MassOutageGuard } from '../status/mass-outage-guard.js';
import type { ConfigReloader } from '../lifecycle/reload.js';
import type { HttpDeps } from './server.js';
import { redisKeys } from '../redis/keys.js';

export interface StatusRouteDeps {
  /** Getters: a reload swaps the config and the guard under a running server. */
  config: () => Config;
  redis: Redis;
  metrics: Metrics;
  leader: MetricsLeader;
  series: DeviceSeriesStore;
  flips: FlipLog;
  guard: () => MassOutageGuard;
  reloader?: ConfigReloader;
  queues: Record<string, Queue>;
}

/**
 * What the HTTP server adds on top of the registry: queue gauges refreshed per scrape,
 * per-device series (leader only, so Prometheus sees one series per device however many
 * replicas it scrapes), and the status page at `/`, which any replica serves from Redis.
 */
export function createStatusRoutes(deps: StatusRouteDeps): Pick<HttpDeps, 'beforeScrape' | 'extraMetrics' | 'routes'> {
  const snapshot = createCachedSnapshot(deps.series, deps.config);
  return {
    beforeScrape: async () => {
      deps.metrics.metricsLeader.set(deps.leader.isLeader ? 1 : 0);
      // Whichever replica swept, every replica reports the cluster's last good sweep.
      const last = Number(await deps.redis.get(redisKeys.lastSweepSuccess(deps.config().redis.prefix)));
      if (last > 0) deps.metrics.lastSweepSuccessTimestampSeconds.set(last / 1000);
      deps.metrics.flipsHeld.set(await deps.guard().heldRecently());
      await refreshQueueGauges(deps.metrics, deps.queues, deps.queues.report);
    },
    extraMetrics: async () => (deps.leader.isLeader ? (await snapshot()).exposition : []),
    routes: {
      '/': async (_req: IncomingMessage, res: ServerResponse) => {
        const page = renderStatusPage(await statusData(deps, await snapshot()));
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(page);
      },
      '/-/reload': async (req: IncomingMessage, res: ServerResponse) => {
        if (req.method !== 'POST' || !deps.reloader) {
          res.writeHead(deps.reloader ? 405 : 404, { 'content-type': 'text/plain' });
          res.end(deps.reloader ? 'POST to reload the configuration\n' : 'reload is not enabled\n');
          return;
        }
        const outcome = await deps.reloader.reload('http');
        res.writeHead(outcome.ok ? 200 : 400, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify(outcome)}\n`);
      },
    },
  };
}

async function statusData(deps: StatusRouteDeps, fleet: FleetSnapshot) {
  const prefix = deps.config().redis.prefix;
  const [listed, lastSweepRaw, flips] = await Promise.all([
    deps.redis.scard(redisKeys.fleetCurrent(prefix)),
    deps.redis.get(redisKeys.lastSweepSummary(prefix)),
    deps.flips.recent(20),
  ]);
  let lastSweep: Record<string, number> | undefined;
  try {
    lastSweep = lastSweepRaw ? (JSON.parse(lastSweepRaw) as Record<string, number>) : undefined;
  } catch {
    lastSweep = undefined;
  }
  return {
    up: fleet.counts.up,
    down: fleet.counts.down,
    unknown: Math.max(0, listed - fleet.counts.up - fleet.counts.down),
    downDevices: fleet.down,
    flips,
    lastSweep,
    intervalSeconds: deps.config().schedule.interval_seconds,
  };
}
