import { describe, expect, it } from 'vitest';
import type { Device } from '../../src/inventory/device.js';
import type { DeviceToCheck } from '../../src/queue/jobs.js';
import { PHASE_SLOT_MS, phaseSlot } from '../../src/scheduler/phase.js';
import { ProbeBatcher, type BatcherSettings } from '../../src/scheduler/probe-batcher.js';

const device = (id: number): Device => ({
  id, name: `d${id}`, target: '127.0.0.1', organization: null, type: null, inventoryStatus: true, updatedAt: null, snmpCommunity: undefined,
});

/** A batcher whose sends are recorded instead of queued. */
function recording(settings: BatcherSettings) {
  const sent: { slot: number; ids: number[]; atMs: number }[] = [];
  const batcher = new ProbeBatcher(settings, async (slot, devices: DeviceToCheck[], nowMs) => {
    sent.push({ slot, ids: devices.map((d) => d.device.id), atMs: nowMs });
    return { added: devices.length, alreadyPending: 0 };
  });
  return { batcher, sent };
}

const pages = (total: number, size: number) =>
  Array.from({ length: Math.ceil(total / size) }, (_, p) => Array.from({ length: Math.min(size, total - p * size) }, (_, i) => device(p * size + i + 1)));

describe('probe batches: one job per phase slot and batch_size devices', () => {
  const settings: BatcherSettings = { cycleStartMs: 0, intervalMs: 60_000, spread: 0.8, batchSize: 100 };

  it('sends every device exactly once, in jobs of at most batch_size devices of one slot each', async () => {
    const { batcher, sent } = recording(settings);
    let added = 0;
    // The whole sweep happens at the cycle's start: only slots 0 and 1 are due before the end.
    for (const page of pages(10_000, 100)) added += (await batcher.add(page, 0, 0)).added;
    added += (await batcher.flush(0)).added;

    expect(added).toBe(10_000);
    const ids = sent.flatMap((s) => s.ids);
    expect(new Set(ids).size).toBe(10_000);
    expect(ids).toHaveLength(10_000);
    for (const job of sent) {
      expect(job.ids.length).toBeLessThanOrEqual(100);
      for (const id of job.ids) expect(phaseSlot(id, 60_000, 0.8)).toBe(job.slot);
    }
    // 48 one-second slots of ~208 devices: three jobs per slot, not one per device.
    expect(sent.length).toBeLessThanOrEqual(48 * 3);
  });

  it("sends a slot with the page that brings its second of the cycle near, without waiting for the sweep's end", async () => {
    const { batcher, sent } = recording(settings);
    const [first, second] = pages(200, 100) as [Device[], Device[]];
    await batcher.add(first, 0, 0);
    const early = new Set(sent.map((s) => s.slot));
    for (const slot of early) expect(slot).toBeLessThanOrEqual(1);

    // 20 s into the cycle, every slot up to second 21 is due with the next page.
    await batcher.add(second, 20_000, 20_000);
    const due = sent.filter((s) => s.atMs === 20_000);
    expect(due.length).toBeGreaterThan(0);
    for (const job of due) expect(job.slot * PHASE_SLOT_MS).toBeLessThanOrEqual(20_000 + PHASE_SLOT_MS);

    await batcher.flush(20_000);
    expect(sent.flatMap((s) => s.ids).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('holds one partial batch per slot at most: a full slot is sent at once', async () => {
    const { batcher, sent } = recording({ ...settings, spread: 0, batchSize: 10 });
    // spread 0: every device is in slot 0, which is due at once anyway; batches still cap at 10.
    await batcher.add(pages(25, 25)[0] as Device[], 0, 0);
    expect(sent.map((s) => s.ids.length)).toEqual([10, 10, 5]);
  });
});
