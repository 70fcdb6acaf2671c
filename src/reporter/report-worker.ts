import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/types.js';
import { InventoryHttpError } from '../inventory/errors.js';
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

/** A flip that lands while a PATCH is in flight is written by the same job: bounded re-checks. */
const MAX_WRITES_PER_JOB = 3;

/**
 * Writes a device's confirmed status to the inventory. The stored "written" mark advances only
 * after a 2xx, so a failed PATCH is retried by BullMQ (backoff) and, failing that, reconciled by
 * the next sweep; PATCH sets an absolute value, so a repeat is harmless.
 */
export function createReportProcessor(deps: ReportWorkerDeps): (job: Job<ReportJobData>) => Promise<string> {
  const log = deps.logger.child({ component: 'reporter' });
  return async (job) => {
    const { deviceId } = job.data;
    let outcome = 'skipped';
    for (let i = 0; i < MAX_WRITES_PER_JOB; i++) {
      const state = await deps.store.get(deviceId);
      if (!state || !patchDue(state)) break;
      await patchOrClassify(deps, job, state.status === 'up');
      await deps.store.markWritten(deviceId, state.status, deps.now());
      deps.metrics.patchesTotal.inc({ result: 'written' });
      log.info({ ...job.data, status: state.status }, 'status written to inventory');
      outcome = 'written';
    }
    if (outcome === 'skipped') deps.metrics.patchesTotal.inc({ result: 'skipped' });
    return outcome;
  };
}

async function patchOrClassify(deps: ReportWorkerDeps, job: Job<ReportJobData>, up: boolean): Promise<void> {
  const { deviceId } = job.data;
  try {
    await deps.inventory.patchStatus(deviceId, up);
  } catch (err) {
    const reason = failureReason(err);
    deps.metrics.patchFailuresTotal.inc({ reason });
    const fields = { component: 'reporter', ...job.data, reason, attempt: job.attemptsMade + 1, err: (err as Error).message };
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

function failureReason(err: unknown): string {
  if (!(err instanceof InventoryHttpError)) return 'network';
  if (err.status === 404) return 'not_found';
  if (err.status === 401 || err.status === 403) return 'unauthorized';
  if (err.status === 429) return 'http_429';
  if (err.status >= 500) return 'http_5xx';
  return 'rejected';
}

export function startReportWorker(deps: ReportWorkerDeps, connection: Redis, prefix: string): Worker<ReportJobData> {
  const worker = new Worker<ReportJobData, string>(REPORT_QUEUE, createReportProcessor(deps), {
    connection,
    prefix,
    concurrency: 4,
    // Shared by every worker process through Redis: a site outage can't hammer the API.
    limiter: { max: deps.config.reporter.patches_per_second, duration: 1_000 },
    settings: { backoffStrategy: (attemptsMade, _type, err) => reportBackoffMs(deps.config, attemptsMade, err) },
  });
  worker.on('failed', (job, err) => {
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    deps.logger.error({ component: 'reporter', ...job.data, err: err.message }, 'status PATCH gave up after all attempts; the next sweep will retry');
  });
  worker.on('error', (err) => deps.logger.warn({ component: 'reporter', err: err.message }, 'report worker error'));
  return worker;
}
