import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Device, DeviceWithoutCommunity } from '../inventory/device.js';
import type { DeviceToCheck, ProbeJobData, QueuedCheck } from './jobs.js';
import type { PendingProbes } from './pending-probes.js';

export interface EnqueueResult {
  added: number;
  /** Devices whose previous probe had not run yet: slow workers don't pile up a backlog. */
  alreadyPending: number;
}

export const NOTHING_ENQUEUED: Readonly<EnqueueResult> = Object.freeze({ added: 0, alreadyPending: 0 });

/** Where one batch of devices goes: its sweep, its phase slot and the claims (of its group) that dedupe it. */
export interface ProbeBatchTarget {
  queue: Queue<ProbeJobData>;
  pending: PendingProbes;
  cycle: number;
  slot: number;
  /** Past this age a pending claim counts as lost (its job will never run) and is taken over. */
  staleClaimMs: number;
  /** How long the queue holds the job: until its slot's second of the cycle (the scheduler's phase). */
  delayMs: number;
  /** Where the queued devices' communities are kept for the worker (inventory/communities.ts). */
  communities: { remember(devices: Pick<Device, 'id' | 'snmpCommunity'>[]): Promise<void> };
}

/**
 * Queues one probe job for the devices of one phase slot, held until the slot's second of the
 * cycle. Devices still pending from an earlier sweep are left out; a failed add gives the
 * claims back, so the next sweep queues those devices again. The job carries no community: it
 * is recorded beside the queue first, and the worker looks it up by device id.
 */
export async function enqueueProbeBatch(target: ProbeBatchTarget, devices: DeviceToCheck[]): Promise<EnqueueResult> {
  if (devices.length === 0) return NOTHING_ENQUEUED;
  const { queue, pending, cycle, slot } = target;
  const group = pending.group;
  const claimed = await pending.claim(cycle, devices.map((d) => d.device.id), target.staleClaimMs);
  const mine = devices.filter((d) => claimed.has(d.device.id));
  if (mine.length > 0) {
    try {
      await target.communities.remember(mine.map((d) => d.device));
      await queue.add('probe', { devices: mine.map(withoutCommunity), cycle, group }, {
        // Unique per call, so a retried add never collides with a job still in the queue.
        jobId: `${cycle}-${slot}-${randomUUID().slice(0, 8)}`,
        delay: target.delayMs,
        removeOnComplete: true,
        removeOnFail: 100,
        attempts: 1,
      });
    } catch (err) {
      await pending.release(cycle, mine.map((d) => d.device.id)).catch(() => {});
      throw err;
    }
  }
  return { added: mine.length, alreadyPending: devices.length - mine.length };
}

/**
 * Every field but the community, named one by one: a new required Device field fails the build
 * until it is added here, and a literal is several times cheaper per device
 * than rest-spreading two objects.
 */
function withoutCommunity(check: DeviceToCheck): QueuedCheck {
  const d = check.device;
  const device: DeviceWithoutCommunity = {
    id: d.id, name: d.name, target: d.target, organization: d.organization, type: d.type, inventoryStatus: d.inventoryStatus, updatedAt: d.updatedAt,
  };
  return check.quorum ? { device, observedAtMs: check.observedAtMs, quorum: check.quorum } : { device, observedAtMs: check.observedAtMs };
}
