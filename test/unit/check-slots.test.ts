import { describe, expect, it } from 'vitest';
import { CheckSlots } from '../../src/worker/check-slots.js';

/** A check the test finishes by hand, recording how many run at once. */
function gate() {
  const open: (() => void)[] = [];
  const seen = { running: 0, most: 0, started: [] as number[] };
  const check = async (n: number) => {
    seen.running++;
    seen.most = Math.max(seen.most, seen.running);
    seen.started.push(n);
    await new Promise<void>((resolve) => open.push(resolve));
    seen.running--;
    return n * 10;
  };
  const finishOne = async () => {
    await new Promise((r) => setImmediate(r));
    open.shift()?.();
  };
  return { check, seen, open, finishOne };
}

const budget = () => new AbortController().signal;

describe('check slots: worker.concurrency caps checks in flight across probe jobs', () => {
  it("starts a job's checks together, and never runs more checks than it has slots", async () => {
    const slots = new CheckSlots(5);
    const g = gate();
    const jobA = slots.runAll([1, 2, 3], g.check, budget);
    const jobB = slots.runAll([4, 5, 6], g.check, budget);
    await new Promise((r) => setImmediate(r));
    // Job A took 3 slots at once; job B needs 3 and waits for them, rather than starting 2 now.
    expect(g.seen.started).toEqual([1, 2, 3]);
    await g.finishOne();
    await new Promise((r) => setImmediate(r));
    expect(g.seen.started).toEqual([1, 2, 3, 4, 5, 6]);
    while (g.open.length > 0 || g.seen.running > 0) await g.finishOne();
    expect(await jobA).toEqual([10, 20, 30]);
    expect(await jobB).toEqual([40, 50, 60]);
    expect(g.seen.most).toBeLessThanOrEqual(5);
  });

  it('runs a job larger than the slots in groups of at most that many', async () => {
    const slots = new CheckSlots(2);
    const g = gate();
    const job = slots.runAll([1, 2, 3, 4, 5], g.check, budget);
    while ((g.open.length > 0 || g.seen.running > 0 || g.seen.started.length < 5)) await g.finishOne();
    expect(await job).toEqual([10, 20, 30, 40, 50]);
    expect(g.seen.most).toBe(2);
  });

  it('gives one budget to each group of checks that start together', async () => {
    const slots = new CheckSlots(2);
    const signals: AbortSignal[] = [];
    let made = 0;
    await slots.runAll([1, 2, 3], async (_n, signal) => void signals.push(signal), () => (made++, new AbortController().signal));
    expect(made).toBe(2);
    expect(signals[0]).toBe(signals[1]);
    expect(signals[2]).not.toBe(signals[0]);
  });

  it('frees the slot of a check that throws', async () => {
    const slots = new CheckSlots(1);
    await expect(slots.runAll([1], () => Promise.reject(new Error('probe crashed')), budget)).rejects.toThrow('probe crashed');
    expect(await slots.runAll([2], async (n) => n, budget)).toEqual([2]);
  });
});
