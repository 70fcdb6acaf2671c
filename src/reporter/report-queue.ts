import type { Queue } from 'bullmq';
import type { Config } from '../config/types.js';
import type { DeviceWithoutCommunity } from '../inventory/device.js';
import { InventoryHttpError } from '../inventory/errors.js';
import { reportDedupId, type ReportJobData } from '../queue/jobs.js';

/**
 * Asks for the device's confirmed status to be written. At most one write per device waits
 * (deduplicated); since the job reads the latest status when it runs, a newer flip never needs a
 * second waiting job. `keepLastIfActive`: a flip that lands while the write is in flight queues
 * one follow-up job instead of being dropped until the next sweep.
 */
export async function enqueueReport(queue: Queue<ReportJobData>, device: DeviceWithoutCommunity, config: Config): Promise<void> {
  await queue.add(
    'report',
    { deviceId: device.id, device: device.name, organization: device.organization?.name ?? '' },
    {
      deduplication: { id: reportDedupId(device.id), keepLastIfActive: true },
      attempts: config.reporter.attempts,
      backoff: { type: 'inventory' },
      removeOnComplete: true,
      removeOnFail: 1000,
    },
  );
}

/** Exponential backoff with full jitter, capped; a 429's Retry-After is a floor. */
export function reportBackoffMs(config: Config, attemptsMade: number, err?: Error, random = Math.random): number {
  const { backoff_ms: base, max_backoff_ms: cap } = config.reporter;
  const exp = Math.min(cap, base * 2 ** Math.max(0, attemptsMade - 1));
  const jittered = Math.round(exp / 2 + random() * (exp / 2));
  const retryAfterMs = err instanceof InventoryHttpError ? (err.retryAfterMs ?? 0) : 0;
  return Math.max(jittered, Math.min(retryAfterMs, cap));
}
