/**
 * A device's stable offset inside the cycle, from a hash of its id: load is spread evenly and
 * each device is probed at the same point of every cycle (as Prometheus and Zabbix do).
 */
export function phaseOffsetMs(deviceId: number, intervalMs: number, spread: number): number {
  const window = Math.floor(intervalMs * spread);
  if (window <= 0) return 0;
  return hash32(deviceId) % window;
}

/** Integer hash (Murmur3 finalizer): neighbouring ids land far apart. */
function hash32(n: number): number {
  let h = (n ^ (n / 2 ** 32)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Devices whose phase offsets fall in the same second share one probe job: per-job queue costs
 * are paid per second of the cycle, not per device, and no device moves more than a second
 * off its own phase.
 */
export const PHASE_SLOT_MS = 1_000;

export function phaseSlot(deviceId: number, intervalMs: number, spread: number): number {
  return Math.floor(phaseOffsetMs(deviceId, intervalMs, spread) / PHASE_SLOT_MS);
}

/** How long to hold a slot's probe job after its devices were read. */
export function slotDelayMs(slot: number, cycleStartMs: number, nowMs: number): number {
  return Math.max(0, cycleStartMs + slot * PHASE_SLOT_MS - nowMs);
}
