import { describe, expect, it } from 'vitest';
import { CheckSlots } from '../../src/worker/check-slots.js';

describe('check slots: worker.concurrency caps checks in flight across probe jobs', () => {
  it('never runs more checks at once than it has slots, and runs every one', async () => {
    const slots = new CheckSlots(3);
    let running = 0;
    let most = 0;
    const release: (() => void)[] = [];
    const checks = Array.from({ length: 10 }, (_, i) =>
      slots.run(async () => {
        running++;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => release.push(resolve));
        running--;
        return i;
      }),
    );
    // Let each started check finish in turn; the next waiting one takes its slot.
    while (release.length > 0 || running > 0) {
      await new Promise((r) => setImmediate(r));
      release.shift()?.();
    }
    expect(await Promise.all(checks)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(most).toBe(3);
  });

  it('frees the slot of a check that throws', async () => {
    const slots = new CheckSlots(1);
    await expect(slots.run(() => Promise.reject(new Error('probe crashed')))).rejects.toThrow('probe crashed');
    expect(await slots.run(() => Promise.resolve('next'))).toBe('next');
  });
});
