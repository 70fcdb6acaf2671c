import type { RoutingRule } from '../config/types.js';
import type { Device } from '../inventory/device.js';
import type { GroupCoverage, GroupFigures } from '../queue/group-coverage.js';
import type { Quorum } from '../queue/jobs.js';
import type { PendingProbes } from '../queue/pending-probes.js';
import { enqueueProbeBatch, NOTHING_ENQUEUED, type EnqueueResult, type ProbeBatchTarget } from '../queue/probe-queue.js';
import type { ProbeQueues } from '../queue/probe-queues.js';
import { slotDelayMs } from './phase.js';
import { ProbeBatcher, type BatcherSettings } from './probe-batcher.js';
import { routeDevice, routedGroups } from './routing.js';

export interface GroupDispatchDeps {
  rules: readonly RoutingRule[];
  queues: ProbeQueues;
  pending: (group: string) => PendingProbes;
  coverage: GroupCoverage;
  communities: ProbeBatchTarget['communities'];
  /** Past this age a pending claim counts as lost (its job will never run) and is taken over. */
  staleClaimMs: number;
}

/** A device counts as not probed once its group has not checked it for this many cycles. */
export const NOT_PROBED_CYCLES = 2;
const SAMPLE = 20;

/**
 * One sweep's dispatch into the probe groups: each device goes to the groups its routing rule
 * names (one probe batcher per group, so jobs never mix groups), and each group's figures of
 * devices routed and devices not probed are tallied for the metrics and the status page.
 */
export class GroupDispatch {
  private readonly batchers = new Map<string, ProbeBatcher>();
  private readonly figures = new Map<string, GroupFigures>();

  constructor(
    private readonly deps: GroupDispatchDeps,
    private readonly settings: BatcherSettings,
  ) {
    for (const group of routedGroups(deps.rules)) this.figures.set(group, { devices: 0, notProbed: 0, notProbedSample: [] });
  }

  async add(devices: Device[], observedAtMs: number, nowMs: number): Promise<EnqueueResult> {
    const byGroup = new Map<string, Map<string, { quorum?: Quorum; devices: Device[] }>>();
    for (const device of devices) {
      const route = routeDevice(this.deps.rules, device);
      const routeKey = route.quorum ? `${route.quorum.groups.join(',')}/${route.quorum.downAt}` : '';
      for (const group of route.groups) {
        const subsets = byGroup.get(group) ?? new Map<string, { quorum?: Quorum; devices: Device[] }>();
        byGroup.set(group, subsets);
        const subset = subsets.get(routeKey) ?? { quorum: route.quorum, devices: [] };
        subsets.set(routeKey, subset);
        subset.devices.push(device);
      }
    }
    const total = { ...NOTHING_ENQUEUED };
    for (const [group, subsets] of byGroup) {
      await this.tally(group, [...subsets.values()].flatMap((s) => s.devices));
      for (const subset of subsets.values()) {
        const sent = await this.batcher(group).add(subset.devices, observedAtMs, nowMs, subset.quorum);
        total.added += sent.added;
        total.alreadyPending += sent.alreadyPending;
      }
    }
    return total;
  }

  async flush(nowMs: number): Promise<EnqueueResult> {
    const total = { ...NOTHING_ENQUEUED };
    for (const batcher of this.batchers.values()) {
      const sent = await batcher.flush(nowMs);
      total.added += sent.added;
      total.alreadyPending += sent.alreadyPending;
    }
    return total;
  }

  /** The groups' figures of this sweep, by group name. */
  groups(): Record<string, GroupFigures> {
    return Object.fromEntries(this.figures);
  }

  private batcher(group: string): ProbeBatcher {
    let batcher = this.batchers.get(group);
    if (!batcher) {
      const { queues, pending, staleClaimMs, communities } = this.deps;
      const cycle = this.settings.cycleStartMs;
      batcher = new ProbeBatcher(this.settings, (slot, devices, nowMs) =>
        enqueueProbeBatch({ queue: queues.get(group), pending: pending(group), cycle, slot, staleClaimMs, delayMs: slotDelayMs(slot, cycle, nowMs), communities }, devices),
      );
      this.batchers.set(group, batcher);
    }
    return batcher;
  }

  private async tally(group: string, devices: Device[]): Promise<void> {
    const { cycleStartMs: cycle, intervalMs } = this.settings;
    const lastChecks = await this.deps.coverage.lastChecks(group, cycle, devices.map((d) => d.id));
    const figures = this.figures.get(group) ?? { devices: 0, notProbed: 0, notProbedSample: [] };
    this.figures.set(group, figures);
    figures.devices += devices.length;
    for (const [i, device] of devices.entries()) {
      if ((lastChecks[i] ?? cycle) > cycle - NOT_PROBED_CYCLES * intervalMs) continue;
      figures.notProbed++;
      if (figures.notProbedSample.length < SAMPLE) figures.notProbedSample.push({ id: device.id, name: device.name });
    }
  }
}
