import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { Worker, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/types.js';
import type { DeviceCommunities } from '../inventory/communities.js';
import { deviceLabels, type Device, type DeviceWithoutCommunity } from '../inventory/device.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { GroupCoverage } from '../queue/group-coverage.js';
import { DEFAULT_GROUP, probeQueueName, type ProbeJobData, type QueuedCheck, type ReportJobData } from '../queue/jobs.js';
import type { PendingProbes } from '../queue/pending-probes.js';
import { enqueueReport } from '../reporter/report-queue.js';
import type { FlipLog } from '../status/flip-log.js';
import type { MassOutageGuard } from '../status/mass-outage-guard.js';
import { patchDue, type Applied, type StatusStore } from '../status/store.js';
import type { DeviceSeriesStore } from '../metrics/device-series.js';
import { checkBudgetMs, checkDevice, type DeviceCheck, type ProbeSet } from './check-device.js';
import { CheckSlots } from './check-slots.js';

export interface ProbeWorkerDeps {
  config: Config;
  probes: ProbeSet;
  store: StatusStore;
  /** Pending claims of one probe group. */
  pending: (group: string) => PendingProbes;
  coverage: GroupCoverage;
  /** Where the sweep kept the devices' own communities (probe jobs carry none). */
  communities: Pick<DeviceCommunities, 'lookup'>;
  series: DeviceSeriesStore;
  flips: FlipLog;
  guard: MassOutageGuard;
  reportQueue: Queue<ReportJobData>;
  metrics: Metrics;
  logger: Logger;
  now: () => number;
}

/**
 * The work of one probe job: check each of its devices (at most `worker.concurrency` checks at
 * once in this process), decide through hysteresis, log each flip, queue the writes. The
 * devices' pending claims are released whatever happens, so the next sweep can queue them.
 */
export function createProbeProcessor(deps: ProbeWorkerDeps): (job: Job<ProbeJobData>) => Promise<string> {
  const budgetMs = checkBudgetMs(deps.config);
  const slots = new CheckSlots(deps.config.worker.concurrency);
  const log = deps.logger.child({ component: 'worker' });
  return async (job) => {
    const { cycle } = job.data;
    const group = job.data.group ?? DEFAULT_GROUP;
    const devices = await current(deps, log, job.data, group);
    try {
      const budget = () => {
        const signal = AbortSignal.timeout(budgetMs);
        // Every check of the job listens on it (ICMP and SNMP each): not a leak, so no warning.
        setMaxListeners(0, signal);
        return signal;
      };
      const withCommunities = await restoreCommunities(deps, devices);
      const checked = await slots.runAll(withCommunities, (device, signal) => checkDevice(device, deps.probes, deps.config, deps.now, signal), budget);
      await deps.coverage.markChecked(group, devices.map((d) => d.device.id), deps.now()).catch(() => {});
      return await recordChecks(deps, log, { ...job.data, devices, group }, checked);
    } finally {
      await deps.pending(group).release(cycle, devices.map((d) => d.device.id)).catch(() => {});
    }
  };
}

/** The job's devices no newer sweep has queued again (see PendingProbes.supersededSince). */
async function current(deps: ProbeWorkerDeps, log: Logger, job: ProbeJobData, group: string): Promise<ProbeJobData['devices']> {
  const ids = job.devices.map((d) => d.device.id);
  const superseded = await deps.pending(group).supersededSince(job.cycle, ids).catch(() => new Set<number>());
  if (superseded.size === 0) return job.devices;
  log.debug({ group, cycle: job.cycle, devices: superseded.size }, 'probe job partly superseded: a newer sweep queued these devices again');
  return job.devices.filter((d) => !superseded.has(d.device.id));
}

/** Each device with its own community put back from where the sweep kept it; only v1/v2c SNMP reads one. */
async function restoreCommunities(deps: ProbeWorkerDeps, devices: QueuedCheck[]): Promise<Device[]> {
  const snmp = deps.config.probes.snmp;
  const own = snmp.enabled && snmp.version !== '3' ? await deps.communities.lookup(devices.map((d) => d.device.id)) : new Map<number, string>();
  return devices.map(({ device }) => ({ ...device, snmpCommunity: own.get(device.id) }));
}

/** Runs a job's checks through the status store, then announces, exports and reports each device. */
async function recordChecks(deps: ProbeWorkerDeps, log: Logger, job: ProbeJobData & { group: string }, checked: DeviceCheck[]): Promise<string> {
  const thresholds = { downAfter: deps.config.status.down_after, upAfter: deps.config.status.up_after };
  countProbes(deps.metrics, checked);
  const records = job.devices.map(({ device, observedAtMs, quorum }, i) => {
    const result = checked[i] as DeviceCheck;
    deps.guard.count(result.check.outcome);
    return { deviceId: device.id, observation: { status: device.inventoryStatus, atMs: observedAtMs }, check: result.check, group: job.group, quorum };
  });
  const applied = await deps.store.applyMany(records, thresholds, () => deps.guard.shouldHold());
  const series: Parameters<DeviceSeriesStore['record']>[0] = [];
  const outcomes: Record<string, number> = {};
  for (const [i, { device }] of job.devices.entries()) {
    const result = checked[i] as DeviceCheck;
    const settled = applied[i] as PromiseSettledResult<Applied>;
    if (settled.status === 'rejected') {
      log.error({ ...deviceLabels(device), cycle: job.cycle, err: settled.reason }, 'check not recorded: device state could not be updated');
      continue;
    }
    const transition = settled.value;
    outcomes[result.check.outcome] = (outcomes[result.check.outcome] ?? 0) + 1;
    await announce(deps, log, device, job, transition, result);
    series.push({ device, state: transition.state, results: result.results, votes: transition.votes });
    if (patchDue(transition.state)) await enqueueReport(deps.reportQueue, device, deps.config);
  }
  await deps.series.record(series);
  return Object.entries(outcomes).map(([outcome, n]) => `${outcome} ${n}`).join(', ');
}

/**
 * Logs and counts what the check changed: a held flip, a reboot, a flip (one info line each).
 * A device several groups vote on says which group checked it and what each group holds.
 */
async function announce(deps: ProbeWorkerDeps, log: Logger, device: DeviceWithoutCommunity, job: { cycle: number; group: string }, t: Applied, result: DeviceCheck): Promise<void> {
  const cycle = job.cycle;
  const labels = t.votes ? { ...deviceLabels(device), group: job.group, groups: t.votes } : deviceLabels(device);
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
    log.info({ ...labels, from: t.flip.from, to: t.flip.to, reason: t.votes ? t.state.reason : reason, cycle }, 'device flipped');
    await deps.flips.record({ atMs: deps.now(), deviceId: device.id, device: device.name, organization: labels.organization, from: t.flip.from, to: t.flip.to, reason: t.votes ? t.state.reason : reason, groups: t.votes });
  }
  // Debug only: the cause (e.g. ICMP not permitted) is logged once at start-up and counted per probe.
  if (result.check.outcome === 'error') log.debug({ ...labels, reason }, 'check inconclusive: prober-side probe error, device keeps its status');
}

/** A job's counts added once per label set, not once per device: prom-client hashes the labels on every call. */
function countProbes(metrics: Metrics, checked: DeviceCheck[]): void {
  const checks = new Map<string, number>();
  const probes = new Map<string, { probe: string; outcome: string; n: number }>();
  for (const { check, results } of checked) {
    checks.set(check.outcome, (checks.get(check.outcome) ?? 0) + 1);
    for (const r of Object.values(results)) {
      const key = `${r.kind}/${r.outcome}`;
      const tally = probes.get(key);
      if (tally) tally.n++;
      else probes.set(key, { probe: r.kind, outcome: r.outcome, n: 1 });
      metrics.probeDurationSeconds.observe({ probe: r.kind, outcome: r.outcome }, r.durationMs / 1000);
    }
  }
  for (const [outcome, n] of checks) metrics.checksTotal.inc({ outcome }, n);
  for (const { probe, outcome, n } of probes.values()) metrics.probesTotal.inc({ probe, outcome }, n);
}

/**
 * How long a probe job's lock lives unrenewed (BullMQ renews it at half that while the job runs,
 * however many of its checks wait for a slot). Twice a check's budget is safe; beyond that the
 * lock follows the cycle (capped at BullMQ's 30 s), because a dead worker's devices stay
 * unprobed (claimed by its job) until the lock lapses and the stalled-job check re-queues them:
 * a fixed 30 s + 30 s would skip dozens of short cycles.
 */
export function probeLockMs(config: Config): number {
  return Math.max(checkBudgetMs(config) * 2, Math.min(30_000, config.schedule.interval_seconds * 2_000));
}

/**
 * Probe jobs one process takes at once. A job lasts as long as its slowest device (an
 * unreachable one waits out its timeouts) while most of its checks finish within milliseconds
 * and free their slots, so filling the check slots takes several jobs' worth of devices: four
 * times `concurrency / batch_size`. The slots, not the job count, cap the checks in flight;
 * taking many more jobs would only hoard work other worker processes could be running.
 */
const JOB_HEADROOM = 4;

function probeJobsInFlight(config: Config): number {
  return Math.max(2, Math.ceil((JOB_HEADROOM * config.worker.concurrency) / config.worker.batch_size));
}

/**
 * One BullMQ worker per probe group this process serves (`worker.groups`), each on its group's
 * own queue, so a device of another group never reaches this process. They share one processor,
 * hence one set of check slots: `worker.concurrency` caps the process, whatever its groups.
 */
export function startProbeWorkers(deps: ProbeWorkerDeps, connection: Redis, prefix: string, groups: readonly string[]): Worker<ProbeJobData>[] {
  const processor = createProbeProcessor(deps);
  return groups.map((group) => startGroupWorker(deps, processor, connection, prefix, group));
}

function startGroupWorker(deps: ProbeWorkerDeps, processor: ReturnType<typeof createProbeProcessor>, connection: Redis, prefix: string, group: string): Worker<ProbeJobData> {
  const lockMs = probeLockMs(deps.config);
  const worker = new Worker<ProbeJobData, string>(probeQueueName(group), processor, {
    connection,
    prefix,
    concurrency: probeJobsInFlight(deps.config),
    lockDuration: lockMs,
    stalledInterval: Math.max(1_000, lockMs / 2),
    maxStalledCount: 2,
    // Stored on each job as `processedBy`: says which process holds a job that looks stuck.
    name: `${hostname()}:${process.pid}`,
  });
  worker.on('stalled', (jobId) => {
    deps.logger.warn({ component: 'worker', group, jobId }, 'probe job stalled (its worker died or hung); re-queued for another worker');
  });
  worker.on('failed', (job, err) => {
    deps.logger.error({ component: 'worker', group, jobId: job?.id, devices: job?.data.devices.length, err }, 'probe job failed; its devices are queued again by the next sweep');
  });
  worker.on('error', (err) => deps.logger.warn({ component: 'worker', err }, 'probe worker error'));
  return worker;
}
