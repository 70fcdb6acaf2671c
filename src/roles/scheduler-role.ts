import { InventoryClient } from '../inventory/client.js';
import { DeviceCommunities } from '../inventory/communities.js';
import { DetailsCache } from '../inventory/details.js';
import { createInventoryHttp, inventoryHttpSettings } from '../inventory/http.js';
import { GroupCoverage } from '../queue/group-coverage.js';
import { pendingByGroup } from '../queue/pending-probes.js';
import type { ProbeQueues } from '../queue/probe-queues.js';
import { createCycleSweep } from '../scheduler/cycle-sweep.js';
import { CycleLock } from '../scheduler/cycle-lock.js';
import { Scheduler } from '../scheduler/scheduler.js';
import type { RoleContext, RunningRole } from './types.js';

/** The scheduler role: croner ticks, the cluster-wide cycle lock, and the sweep into the probe groups' queues. */
export function startSchedulerRole(ctx: RoleContext, queues: ProbeQueues): RunningRole {
  const { config, logger, metrics, redis, now } = ctx;
  const log = logger.child({ component: 'scheduler' });
  const http = createInventoryHttp({ ...inventoryHttpSettings(config.inventory), metrics, logger: log });
  const inventory = new InventoryClient(http);
  const details = new DetailsCache({ redis, prefix: config.redis.prefix, inventory, concurrency: config.inventory.detail_concurrency, logger: log });
  const prefix = config.redis.prefix;
  const sweep = createCycleSweep({
    config, redis, inventory, details, queues,
    pending: pendingByGroup(redis, prefix), coverage: new GroupCoverage(redis, prefix), communities: new DeviceCommunities(redis, prefix),
    series: ctx.series, store: ctx.store, metrics, logger: log, now,
  });
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
