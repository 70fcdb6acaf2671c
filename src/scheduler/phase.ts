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

/** How long to hold a device's probe after its page was read, given when the cycle started. */
export function probeDelayMs(deviceId: number, cycleStartMs: number, nowMs: number, intervalMs: number, spread: number): number {
  return Math.max(0, cycleStartMs + phaseOffsetMs(deviceId, intervalMs, spread) - nowMs);
}
