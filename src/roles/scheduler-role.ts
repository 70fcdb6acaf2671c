import type { Queue } from 'bullmq';
import { InventoryClient } from '../inventory/client.js';
import { DeviceCommunities } from '../inventory/communities.js';
import { DetailsCache } from '../inventory/details.js';
import { createInventoryHttp, inventoryHttpSettings } from '../inventory/http.js';
import type { ProbeJobData } from '../queue/jobs.js';
import { PendingProbes } from '../queue/pending-probes.js';
import { createCycleSweep } from '../scheduler/cycle-sweep.js';
import { CycleLock } from '../scheduler/cycle-lock.js';
import { Scheduler } from '../scheduler/scheduler.js';
import type { RoleContext, RunningRole } from './types.js';

/** The scheduler role: croner ticks, the cluster-wide cycle lock, and the sweep into the probe queue. */
export function startSchedulerRole(ctx: RoleContext, probeQueue: Queue<ProbeJobData>): RunningRole {
  const { config, logger, metrics, redis, now } = ctx;
  const log = logger.child({ component: 'scheduler' });
  const http = createInventoryHttp({ ...inventoryHttpSettings(config.inventory), metrics, logger: log });
  const inventory = new InventoryClient(http);
  const details = new DetailsCache({ redis, prefix: config.redis.prefix, inventory, concurrency: config.inventory.detail_concurrency, logger: log });
  const sweep = createCycleSweep({ config, redis, inventory, details, probeQueue, pending: new PendingProbes(redis, config.redis.prefix), communities: new DeviceCommunities(redis, config.redis.prefix), series: ctx.series, store: ctx.store, metrics, logger: log, now });
  const lock = new CycleLock(redis, config.redis.prefix, ctx.owner);
  const scheduler = new Scheduler({ lock, now, metrics, logger: log, sweep }, { intervalSeconds: config.schedule.interval_seconds, cron: config.schedule.cron });
  scheduler.start();
  return {
    running: () => true,
    stop: async () => {
      // Detail fetches outlive sweeps: stop them with the scheduler, not with the HTTP pool.
      details.close();
      await scheduler.stop();
    },
    close: () => http.close(),
  };
}
