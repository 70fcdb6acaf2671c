import type { Device } from '../inventory/device.js';

export const PROBE_QUEUE = 'probe';
export const REPORT_QUEUE = 'report';

/** One device to check, as the sweep saw it. */
export interface ProbeJobData {
  device: Device;
  /** When the sweep read the device's page: orders this job's inventory status against our own writes. */
  observedAtMs: number;
  /** Identifies the sweep (cycle start, ms since epoch) for logs. */
  cycle: number;
}

/** "Make the inventory agree with the confirmed status of this device." The job carries no status:
 * the reporter reads the latest one when it runs, so Down-then-Up during an outage ends correct. */
export interface ReportJobData {
  deviceId: number;
  device: string;
  organization: string;
}

/** BullMQ deduplication ids: at most one pending probe and one pending write per device. */
export const probeDedupId = (deviceId: number) => `probe:${deviceId}`;
export const reportDedupId = (deviceId: number) => `report:${deviceId}`;
