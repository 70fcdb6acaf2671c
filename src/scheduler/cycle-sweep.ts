import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/types.js';
import type { InventoryClient } from '../inventory/client.js';
import type { DeviceCommunities } from '../inventory/communities.js';
import type { DetailsCache } from '../inventory/details.js';
import type { Device } from '../inventory/device.js';
import type { Logger } from '../log/logger.js';
import type { DeviceSeriesStore } from '../metrics/device-series.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ProbeJobData } from '../queue/jobs.js';
import type { PendingProbes } from '../queue/pending-probes.js';
import { enqueueProbeBatch } from '../queue/probe-queue.js';
import { redisKeys } from '../redis/keys.js';
import type { StatusStore } from '../status/store.js';
import { FleetMembership } from './fleet-membership.js';
import { slotDelayMs } from './phase.js';
import { ProbeBatcher } from './probe-batcher.js';
import { BoundedSet, runSweep, type SweepPage, type SweepSummary } from './sweep.js';

export interface CycleSweepDeps {
  config: Config;
  redis: Redis;
  inventory: InventoryClient;
  details: DetailsCache;
  probeQueue: Queue<ProbeJobData>;
  pending: PendingProbes;
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
 * One cycle's sweep, end to end: page the inventory, fill in details, enqueue probes, and once
 * every page was read, retire the devices the inventory no longer lists.
 */
export function createCycleSweep(deps: CycleSweepDeps): (cycle: number, intervalMs: number, signal: AbortSignal) => Promise<SweepSummary> {
  const { config, redis, inventory, details, now } = deps;
  const prefix = config.redis.prefix;
  const membership = new FleetMembership(redis, prefix);
  const warned = new BoundedSet();
  const pages = async function* (signal: AbortSignal): AsyncIterable<SweepPage> {
    for await (const page of inventory.listDevices({ pageSize: config.inventory.page_size, filters: config.inventory.filters, signal })) {
      yield { ...page, devices: await details.enrich(page.devices, page.rows, signal) };
    }
  };
  return async (cycle, intervalMs, signal) => {
    const batcher = new ProbeBatcher(
      { cycleStartMs: cycle, intervalMs, spread: config.schedule.spread, batchSize: config.worker.batch_size },
      (slot, devices, nowMs) =>
        enqueueProbeBatch({ queue: deps.probeQueue, pending: deps.pending, cycle, slot, staleClaimMs: STALE_CLAIM_CYCLES * intervalMs, delayMs: slotDelayMs(slot, cycle, nowMs), communities: deps.communities }, devices),
    );
    const dispatch = async (devices: Device[], observedAtMs: number) => {
      await membership.add(cycle, devices.map((d) => d.id));
      return batcher.add(devices, observedAtMs, now());
    };
    const flush = () => batcher.flush(now());
    let summary: SweepSummary;
    try {
      summary = await runSweep({ pages, dispatch, flush, now, metrics: deps.metrics, logger: deps.logger, warned }, cycle, signal);
      // A sweep cut short by shutdown did not see every device: it must not retire any.
      if (signal.aborted) throw new Error('sweep interrupted by shutdown');
    } catch (err) {
      await membership.discard(cycle).catch(() => {});
      throw err;
    }
    // A list that moved under the sweep may have shifted live devices past it: keep the last complete membership.
    if (summary.countChanges > 0) await membership.discard(cycle);
    else await retire(deps, await membership.commit(cycle));
    await redis.multi().set(redisKeys.lastSweepSuccess(prefix), String(now())).set(redisKeys.lastSweepSummary(prefix), JSON.stringify({ ...summary, atMs: now() })).exec();
    return summary;
  };
}

async function retire(deps: CycleSweepDeps, removed: string[]): Promise<void> {
  if (removed.length === 0) return;
  await deps.series.remove(removed);
  await deps.pending.forget(removed);
  await deps.communities.forget(removed);
  await Promise.all(removed.map((id) => deps.store.forget(Number(id))));
  deps.logger.info({ devices: removed.length, sample: removed.slice(0, 10) }, 'devices no longer in the inventory: series and state dropped');
}
