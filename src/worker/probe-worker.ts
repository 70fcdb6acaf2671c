import { hostname } from 'node:os';
import { Worker, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/types.js';
import { deviceLabels } from '../inventory/device.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { PROBE_QUEUE, type ProbeJobData, type ReportJobData } from '../queue/jobs.js';
import { enqueueReport } from '../reporter/report-queue.js';
import type { FlipLog } from '../status/flip-log.js';
import type { MassOutageGuard } from '../status/mass-outage-guard.js';
import type { Transition } from '../status/machine.js';
import { patchDue, type StatusStore } from '../status/store.js';
import type { DeviceSeriesStore } from '../metrics/device-series.js';
import { checkBudgetMs, checkDevice, type DeviceCheck, type ProbeSet } from './check-device.js';

export interface ProbeWorkerDeps {
  config: Config;
  probes: ProbeSet;
  store: StatusStore;
  series: DeviceSeriesStore;
  flips: FlipLog;
  guard: MassOutageGuard;
  reportQueue: Queue<ReportJobData>;
  metrics: Metrics;
  logger: Logger;
  now: () => number;
}

/** The work of one probe job: check, decide through hysteresis, log the flip, queue the write. */
export function createProbeProcessor(deps: ProbeWorkerDeps): (job: Job<ProbeJobData>) => Promise<string> {
  const thresholds = { downAfter: deps.config.status.down_after, upAfter: deps.config.status.up_after };
  const budgetMs = checkBudgetMs(deps.config);
  const log = deps.logger.child({ component: 'worker' });
  return async (job) => {
    const { device, observedAtMs } = job.data;
    const result = await checkDevice(device, deps.probes, deps.config, deps.now, budgetMs);
    countProbes(deps.metrics, result);
    const observation = { status: device.inventoryStatus, atMs: observedAtMs };
    deps.guard.count(result.check.outcome);
    const transition = await deps.store.apply(device.id, observation, result.check, thresholds, () => deps.guard.shouldHold());
    await announce(deps, log, job.data, transition, result);
    await deps.series.record(device, transition.state, result.results);
    if (patchDue(transition.state)) await enqueueReport(deps.reportQueue, device, deps.config);
    return result.check.outcome;
  };
}

/** Logs and counts what the check changed: a held flip, a reboot, a flip (one info line each). */
async function announce(deps: ProbeWorkerDeps, log: Logger, job: ProbeJobData, t: Transition, result: DeviceCheck): Promise<void> {
  const { device, cycle } = job;
  const labels = deviceLabels(device);
  const reason = result.check.reason;
  if (t.held) {
    deps.metrics.flipsHeldTotal.inc();
    log.error({ ...labels, reason, cycle }, 'Down flip held: too much of the fleet is failing at once, the prober\'s own network is suspect');
  }
  if (t.reboot) {
    deps.metrics.rebootsTotal.inc();
    log.info({ ...labels, uptimeTicks: result.check.uptimeTicks, cycle }, 'device rebooted');
  }
  if (t.flip) {
    deps.metrics.flipsTotal.inc({ to: t.flip.to });
    log.info({ ...labels, from: t.flip.from, to: t.flip.to, reason, cycle }, 'device flipped');
    await deps.flips.record({ atMs: deps.now(), deviceId: device.id, device: device.name, organization: labels.organization, from: t.flip.from, to: t.flip.to, reason });
  }
  // Debug only: the cause (e.g. ICMP not permitted) is logged once at start-up and counted per probe.
  if (result.check.outcome === 'error') log.debug({ ...labels, reason }, 'check inconclusive: prober-side probe error, device keeps its status');
}

function countProbes(metrics: Metrics, result: DeviceCheck): void {
  metrics.checksTotal.inc({ outcome: result.check.outcome });
  for (const r of Object.values(result.results)) {
    metrics.probesTotal.inc({ probe: r.kind, outcome: r.outcome });
    metrics.probeDurationSeconds.observe({ probe: r.kind, outcome: r.outcome }, r.durationMs / 1000);
  }
}

/**
 * How long a probe job's lock lives unrenewed. A check never outlasts its budget, so twice the
 * budget is safe; beyond that the lock follows the cycle (capped at BullMQ's 30 s), because a dead
 * worker's devices stay unprobed (deduplicated behind its job) until the lock lapses and the
 * stalled-job check re-queues them: a fixed 30 s + 30 s would skip dozens of short cycles.
 */
export function probeLockMs(config: Config): number {
  return Math.max(checkBudgetMs(config) * 2, Math.min(30_000, config.schedule.interval_seconds * 2_000));
}

export function startProbeWorker(deps: ProbeWorkerDeps, connection: Redis, prefix: string): Worker<ProbeJobData> {
  const lockMs = probeLockMs(deps.config);
  const worker = new Worker<ProbeJobData, string>(PROBE_QUEUE, createProbeProcessor(deps), {
    connection,
    prefix,
    concurrency: deps.config.worker.concurrency,
    lockDuration: lockMs,
    stalledInterval: Math.max(1_000, lockMs / 2),
    maxStalledCount: 2,
    // Stored on each job as `processedBy`: says which process holds a job that looks stuck.
    name: `${hostname()}:${process.pid}`,
  });
  worker.on('stalled', (jobId) => {
    deps.logger.warn({ component: 'worker', jobId }, 'probe job stalled (its worker died or hung); re-queued for another worker');
  });
  worker.on('failed', (job, err) => {
    deps.logger.error({ component: 'worker', deviceId: job?.data.device.id, err: err.message }, 'probe job failed');
  });
  worker.on('error', (err) => deps.logger.warn({ component: 'worker', err: err.message }, 'probe worker error'));
  return worker;
}
