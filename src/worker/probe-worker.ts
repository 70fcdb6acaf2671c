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
    const { device, observedAtMs, cycle } = job.data;
    const result = await checkDevice(device, deps.probes, deps.config, deps.now, budgetMs);
    countProbes(deps.metrics, result);
    const observation = { status: device.inventoryStatus, atMs: observedAtMs };
    deps.guard.count(result.check.outcome);
    const { flip, reboot, held, state } = await deps.store.apply(device.id, observation, result.check, thresholds, () => deps.guard.shouldHold());
    const labels = deviceLabels(device);
    if (held) {
      deps.metrics.flipsHeldTotal.inc();
      log.error({ ...labels, reason: result.check.reason, cycle }, 'Down flip held: too much of the fleet is failing at once, the prober\'s own network is suspect');
    }
    if (reboot) {
      deps.metrics.rebootsTotal.inc();
      log.info({ ...labels, uptimeTicks: result.check.uptimeTicks, cycle }, 'device rebooted');
    }
    if (flip) {
      deps.metrics.flipsTotal.inc({ to: flip.to });
      log.info({ ...labels, from: flip.from, to: flip.to, reason: result.check.reason, cycle }, 'device flipped');
      await deps.flips.record({ atMs: deps.now(), deviceId: device.id, device: device.name, organization: labels.organization, from: flip.from, to: flip.to, reason: result.check.reason });
    }
    await deps.series.record(device, state, result.results);
    if (result.check.outcome === 'error') {
      log.warn({ ...labels, reason: result.check.reason }, 'check inconclusive: prober-side probe error, device keeps its status');
    }
    if (patchDue(state)) await enqueueReport(deps.reportQueue, device, deps.config);
    return result.check.outcome;
  };
}

function countProbes(metrics: Metrics, result: DeviceCheck): void {
  metrics.checksTotal.inc({ outcome: result.check.outcome });
  for (const r of Object.values(result.results)) {
    metrics.probesTotal.inc({ probe: r.kind, outcome: r.outcome });
    metrics.probeDurationSeconds.observe({ probe: r.kind, outcome: r.outcome }, r.durationMs / 1000);
  }
}

export function startProbeWorker(deps: ProbeWorkerDeps, connection: Redis, prefix: string): Worker<ProbeJobData> {
  const worker = new Worker<ProbeJobData, string>(PROBE_QUEUE, createProbeProcessor(deps), {
    connection,
    prefix,
    concurrency: deps.config.worker.concurrency,
    // A probe job is short; if its worker dies, another picks it up after this lock lapses.
    lockDuration: Math.max(30_000, checkBudgetMs(deps.config) * 2),
    maxStalledCount: 2,
  });
  worker.on('failed', (job, err) => {
    deps.logger.error({ component: 'worker', deviceId: job?.data.device.id, err: err.message }, 'probe job failed');
  });
  worker.on('error', (err) => deps.logger.warn({ component: 'worker', err: err.message }, 'probe worker error'));
  return worker;
}
