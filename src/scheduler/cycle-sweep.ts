import type { Redis } from 'ioredis';
import type { Config } from '../config/types.js';
import type { InventoryClient } from '../inventory/client.js';
import type { DeviceCommunities } from '../inventory/communities.js';
import type { DetailsCache } from '../inventory/details.js';
import type { Device } from '../inventory/device.js';
import type { Logger } from '../log/logger.js';
import type { DeviceSeriesStore } from '../metrics/device-series.js';
import type { Metrics } from '../metrics/metrics.js';
import type { GroupCoverage } from '../queue/group-coverage.js';
import type { PendingProbes } from '../queue/pending-probes.js';
import type { ProbeQueues } from '../queue/probe-queues.js';
import { redisKeys } from '../redis/keys.js';
import type { StatusStore } from '../status/store.js';
import { FleetMembership } from './fleet-membership.js';
import { GroupDispatch } from './group-dispatch.js';
import { routedGroups } from './routing.js';
import { BoundedSet, runSweep, SweepIncompleteError, type SweepSummary } from './sweep.js';

export interface CycleSweepDeps {
  config: Config;
  redis: Redis;
  inventory: InventoryClient;
  details: DetailsCache;
  queues: ProbeQueues;
  /** Pending claims of one probe group. */
  pending: (group: string) => PendingProbes;
  coverage: GroupCoverage;
  communities: DeviceCommunities;
  series: DeviceSeriesStore;
  store: StatusStore;
  metrics: Metrics;
  logger: Logger;
  now: () => number;
}

/**
 * A device still claimed by a probe job this many cycles old is queued again: its job was lost
 * (the add failed, or the job failed with Redis unreachable). A job merely waiting behind a
 * backlog that long gets company, which caps the backlog instead of letting it grow.
 */
const STALE_CLAIM_CYCLES = 3;

/**
 * The share of the cycle after which a sweep stops waiting for details in flight (they go on,
 * and the next sweep finds them cached): the sweep ends inside its cycle, so a cold start never
 * makes the next cycle skip.
 */
export const DETAIL_WAIT_SHARE = 0.75;

/**
 * One cycle's sweep, end to end: page the inventory, fill in details, enqueue probes, and once
 * every page was read, retire the devices the inventory no longer lists.
 */
export function createCycleSweep(deps: CycleSweepDeps): (cycle: number, intervalMs: number, signal: AbortSignal) => Promise<SweepSummary> {
  const { config, redis, inventory, details, now } = deps;
  const prefix = config.redis.prefix;
  const membership = new FleetMembership(redis, prefix);
  const warned = new BoundedSet();
  const pages = (signal: AbortSignal) =>
    inventory.listDevices({ pageSize: config.inventory.page_size, filters: config.inventory.filters, concurrency: config.inventory.page_concurrency, signal });
  return async (cycle, intervalMs, signal) => {
    const batcher = new GroupDispatch(
      { rules: config.routing.rules, queues: deps.queues, pending: deps.pending, coverage: deps.coverage, communities: deps.communities, staleClaimMs: STALE_CLAIM_CYCLES * intervalMs },
      { cycleStartMs: cycle, intervalMs, spread: config.schedule.spread, batchSize: config.worker.batch_size },
    );
    const requestsBefore = inventory.requestsStarted();
    const sweepDeps = {
      pages,
      listed: (ids: number[]) => membership.add(cycle, ids),
      details: (devices: Device[], rows: unknown[]) => details.lookup(devices, rows),
      dispatch: (devices: Device[], observedAtMs: number) => batcher.add(devices, observedAtMs, now()),
      flush: () => batcher.flush(now()),
      detailDeadlineMs: cycle + intervalMs * DETAIL_WAIT_SHARE,
      now,
      metrics: deps.metrics,
      logger: deps.logger,
      warned,
    };
    let summary: SweepSummary;
    try {
      summary = await runSweep(sweepDeps, cycle, signal);
      // A sweep cut short by shutdown did not see every device: it must not retire any.
      if (signal.aborted) throw new Error('sweep interrupted by shutdown');
    } catch (err) {
      if (err instanceof SweepIncompleteError) countRequests(deps, err.summary, requestsBefore);
      await membership.discard(cycle).catch(() => {});
      throw err;
    }
    countRequests(deps, summary, requestsBefore);
    // A list that moved under the sweep may have shifted live devices past it: keep the last complete membership.
    if (summary.countChanges > 0) await membership.discard(cycle);
    else await retire(deps, await membership.commit(cycle));
    await redis.multi().set(redisKeys.lastSweepSuccess(prefix), String(now())).set(redisKeys.lastSweepSummary(prefix), JSON.stringify({ ...summary, atMs: now() })).exec();
    await deps.coverage.writeSummary({ atMs: now(), groups: batcher.groups() });
    return summary;
  };
}

/** The sweep's own share of inventory requests (detail fetches it queued may still be running). */
function countRequests(deps: CycleSweepDeps, summary: SweepSummary, before: Readonly<Record<'list' | 'detail', number>>): void {
  const after = deps.inventory.requestsStarted();
  summary.requests = { list: after.list - before.list, detail: after.detail - before.detail };
  for (const endpoint of ['list', 'detail'] as const) deps.metrics.sweepInventoryRequests.set({ endpoint }, summary.requests[endpoint]);
}

async function retire(deps: CycleSweepDeps, removed: string[]): Promise<void> {
  if (removed.length === 0) return;
  await deps.series.remove(removed);
  const groups = routedGroups(deps.config.routing.rules);
  await Promise.all(groups.map((g) => deps.pending(g).forget(removed)));
  await deps.coverage.forget(groups, removed);
  await deps.communities.forget(removed);
  await Promise.all(removed.map((id) => deps.store.forget(Number(id))));
  deps.logger.info({ devices: removed.length, sample: removed.slice(0, 10) }, 'devices no longer in the inventory: series and state dropped');
}
