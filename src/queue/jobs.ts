import type { Device, DeviceWithoutCommunity } from '../inventory/device.js';

export const PROBE_QUEUE = 'probe';
export const REPORT_QUEUE = 'report';

/** The group of every device no routing rule matches, and of every worker not told otherwise. */
export const DEFAULT_GROUP = 'default';

/**
 * Each probe group is its own BullMQ queue, so a worker only ever receives its groups' devices.
 * The default group keeps the historical queue name: existing deployments and dashboards go on.
 */
export const probeQueueName = (group: string): string => (group === DEFAULT_GROUP ? PROBE_QUEUE : `${PROBE_QUEUE}-${group}`);

/** Several groups check one device; it is Down once `downAt` of them hold it Down. */
export interface Quorum {
  groups: string[];
  downAt: number;
}

/** One device to check, as the sweep saw it. */
export interface DeviceToCheck {
  device: Device;
  /** When the sweep read the device's page: orders its inventory status against our own writes. */
  observedAtMs: number;
  /** Present when several groups vote on this device. */
  quorum?: Quorum;
}

/** A device to check as a probe job carries it: without its community (see inventory/communities.ts). */
export interface QueuedCheck {
  device: DeviceWithoutCommunity;
  observedAtMs: number;
  /** Present when several groups vote on this device. */
  quorum?: Quorum;
}

/**
 * One probe job: the devices of one phase slot (up to `worker.batch_size`), read by one sweep.
 * Anything that can read the queue can read a job's data, so it holds no secret.
 */
export interface ProbeJobData {
  devices: QueuedCheck[];
  /** Identifies the sweep (cycle start, ms since epoch) for logs and the pending-probe claims. */
  cycle: number;
  /** The probe group whose queue holds the job; absent in jobs queued before groups existed. */
  group?: string;
}

/** "Make the inventory agree with the confirmed status of this device." The job carries no status:
 * the reporter reads the latest one when it runs, so Down-then-Up during an outage ends correct. */
export interface ReportJobData {
  deviceId: number;
  device: string;
  organization: string;
}

/** BullMQ deduplication id: at most one pending write per device. */
export const reportDedupId = (deviceId: number) => `report:${deviceId}`;
