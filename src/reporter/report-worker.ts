import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/types.js';
import { InventoryHttpError, type InventoryHttpErrorKind } from '../inventory/errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { REPORT_QUEUE, type ReportJobData } from '../queue/jobs.js';
import { patchDue, type StatusStore } from '../status/store.js';
import { reportBackoffMs } from './report-queue.js';

export interface StatusWriter {
  patchStatus(deviceId: number, status: boolean): Promise<void>;
}

export interface ReportWorkerDeps {
  config: Config;
  inventory: StatusWriter;
  store: StatusStore;
  metrics: Metrics;
  logger: Logger;
  now: () => number;
}

/**
 * Writes a device's confirmed status to the inventory. The stored "written" mark advances only
 * after a 2xx, so a failed PATCH is retried by BullMQ (backoff) and, failing that, reconciled by
 * the next sweep; PATCH sets an absolute value, so a repeat is harmless.
 */
export function createReportProcessor(deps: ReportWorkerDeps): (job: Job<ReportJobData>) => Promise<string> {
  const log = deps.logger.child({ component: 'reporter' });
  return async (job) => {
    const state = await deps.store.get(job.data.deviceId);
    if (!state || !patchDue(state)) {
      deps.metrics.patchesTotal.inc({ result: 'skipped' });
      return 'skipped';
    }
    await patchOrClassify(deps, job, state.status === 'up');
    await deps.store.markWritten(job.data.deviceId, state.status, deps.now());
    deps.metrics.patchesTotal.inc({ result: 'written' });
    log.info({ ...job.data, status: state.status }, 'status written to inventory');
    return 'written';
  };
}

async function patchOrClassify(deps: ReportWorkerDeps, job: Job<ReportJobData>, up: boolean): Promise<void> {
  const { deviceId } = job.data;
  try {
    await deps.inventory.patchStatus(deviceId, up);
  } catch (err) {
    const reason = failureReason(err);
    deps.metrics.patchFailuresTotal.inc({ reason });
    const fields = { component: 'reporter', ...job.data, reason, attempt: job.attemptsMade + 1, err };
    if (reason === 'not_found') {
      await deps.store.forget(deviceId);
      deps.metrics.patchesTotal.inc({ result: 'gone' });
      deps.logger.warn(fields, 'device no longer in the inventory; its state is dropped');
      throw new UnrecoverableError(`device ${deviceId} not found in the inventory`);
    }
    if (reason === 'rejected') {
      deps.logger.error(fields, 'inventory rejected the status PATCH; not retrying');
      throw new UnrecoverableError(`inventory rejected PATCH of device ${deviceId}`);
    }
    const level = reason === 'unauthorized' ? 'error' : 'warn';
    deps.logger[level](fields, 'status PATCH failed; will retry with backoff');
    throw err;
  }
}

/** BullMQ counts whole jobs per window: a rate below 1/s becomes one job per longer window. */
export function patchLimiter(perSecond: number): { max: number; duration: number } {
  return perSecond >= 1 ? { max: Math.floor(perSecond), duration: 1_000 } : { max: 1, duration: Math.round(1_000 / perSecond) };
}

type PatchFailureReason = 'network' | 'not_found' | 'unauthorized' | 'http_429' | 'http_5xx' | 'rejected';

/** The `reason` label of a failed PATCH, from the inventory error's kind. */
const PATCH_FAILURE_REASON: Record<InventoryHttpErrorKind, PatchFailureReason> = {
  not_found: 'not_found',
  unauthorized: 'unauthorized',
  forbidden: 'unauthorized',
  rate_limited: 'http_429',
  server_error: 'http_5xx',
  bad_request: 'rejected',
  redirect: 'rejected',
  rejected: 'rejected',
};

/** Anything but an HTTP answer (timeout, reset, refused connection) is a network failure, retried. */
const failureReason = (err: unknown): PatchFailureReason => (err instanceof InventoryHttpError ? PATCH_FAILURE_REASON[err.kind] : 'network');

export function startReportWorker(deps: ReportWorkerDeps, connection: Redis, prefix: string): Worker<ReportJobData> {
  const worker = new Worker<ReportJobData, string>(REPORT_QUEUE, createReportProcessor(deps), {
    connection,
    prefix,
    concurrency: 4,
    // Shared by every worker process through Redis: a site outage can't hammer the API.
    limiter: patchLimiter(deps.config.reporter.patches_per_second),
    settings: { backoffStrategy: (attemptsMade, _type, err) => reportBackoffMs(deps.config, attemptsMade, err) },
  });
  worker.on('failed', (job, err) => {
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    deps.logger.error({ component: 'reporter', ...job.data, err }, 'status PATCH gave up after all attempts; the next sweep will retry');
  });
  worker.on('error', (err) => deps.logger.warn({ component: 'reporter', err }, 'report worker error'));
  return worker;
}
