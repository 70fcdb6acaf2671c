import type { Device, DeviceWithoutCommunity } from '../inventory/device.js';

export const PROBE_QUEUE = 'probe';
export const REPORT_QUEUE = 'report';

/** One device to check, as the sweep saw it. */
export interface DeviceToCheck {
  device: Device;
  /** When the sweep read the device's page: orders its inventory status against our own writes. */
  observedAtMs: number;
}

/** A device to check as a probe job carries it: without its community (see inventory/communities.ts). */
export interface QueuedCheck {
  device: DeviceWithoutCommunity;
  observedAtMs: number;
}

/**
 * One probe job: the devices of one phase slot (up to `worker.batch_size`), read by one sweep.
 * Anything that can read the queue can read a job's data, so it holds no secret.
 */
export interface ProbeJobData {
  devices: QueuedCheck[];
  /** Identifies the sweep (cycle start, ms since epoch) for logs and the pending-probe claims. */
  cycle: number;
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
