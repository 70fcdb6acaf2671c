import { describe, expect, it } from 'vitest';
import { PHASE_SLOT_MS, phaseOffsetMs, phaseSlot, slotDelayMs } from '../../src/scheduler/phase.js';

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

  it('puts a device in the phase slot (second of the cycle) its offset falls in', () => {
    for (let id = 1; id <= 1_000; id++) {
      const offset = phaseOffsetMs(id, 60_000, 0.8);
      const slot = phaseSlot(id, 60_000, 0.8);
      expect(offset).toBeGreaterThanOrEqual(slot * PHASE_SLOT_MS);
      expect(offset).toBeLessThan((slot + 1) * PHASE_SLOT_MS);
    }
  });

  it("holds a slot's job until its second of the cycle, and runs it at once when that has passed", () => {
    expect(slotDelayMs(7, 100_000, 100_000)).toBe(7_000);
    expect(slotDelayMs(7, 100_000, 107_005)).toBe(0);
  });
});
