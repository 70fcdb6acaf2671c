import { describe, expect, it } from 'vitest';
import { phaseOffsetMs, probeDelayMs } from '../../src/scheduler/phase.js';

describe('per-device phase inside the cycle', () => {
  it('is stable: the same device is probed at the same offset every cycle', () => {
    expect(phaseOffsetMs(1234, 60_000, 0.8)).toBe(phaseOffsetMs(1234, 60_000, 0.8));
  });

  it('spreads a fleet evenly over the spread window instead of firing all at second 0', () => {
    const buckets = new Array(10).fill(0);
    for (let id = 1; id <= 10_000; id++) {
      const offset = phaseOffsetMs(id, 60_000, 0.8);
      expect(offset).toBeGreaterThanOrEqual(0);
      expect(offset).toBeLessThan(48_000);
      buckets[Math.floor(offset / 4_800)]++;
    }
    for (const n of buckets) expect(n).toBeGreaterThan(800); // each tenth of the window holds ~1,000
  });

  it('probes a device at once when its phase has already passed by the time its page is read', () => {
    const offset = phaseOffsetMs(7, 60_000, 0.8);
    expect(probeDelayMs(7, 0, offset + 5, 60_000, 0.8)).toBe(0);
    expect(probeDelayMs(7, 0, 0, 60_000, 0.8)).toBe(offset);
  });
});
