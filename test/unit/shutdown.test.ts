import { afterEach, describe, expect, it, vi } from 'vitest';
import { Shutdown } from '../../src/lifecycle/shutdown.js';
import { createLogger } from '../../src/log/logger.js';

const logger = createLogger('silent');

/** A Shutdown whose exit is recorded instead of ending the test process. */
function shutdownWith(graceMs = 5_000) {
  const exits: number[] = [];
  const shutdown = new Shutdown(logger, graceMs, (code) => exits.push(code));
  return { shutdown, exits };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Shutdown', () => {
  it('runs the steps in the order they were added, one after the other, then exits 0', async () => {
    const { shutdown, exits } = shutdownWith();
    const events: string[] = [];
    for (const name of ['scheduler', 'workers', 'queues', 'redis']) {
      shutdown.add(name, async () => {
        events.push(`${name} start`);
        await Promise.resolve();
        events.push(`${name} end`);
      });
    }
    await shutdown.begin('SIGTERM');
    expect(events).toEqual([
      'scheduler start', 'scheduler end',
      'workers start', 'workers end',
      'queues start', 'queues end',
      'redis start', 'redis end',
    ]);
    expect(exits).toEqual([0]);
  });

  it('a failing step does not stop the steps after it', async () => {
    const { shutdown, exits } = shutdownWith();
    const ran: string[] = [];
    shutdown.add('workers', async () => {
      ran.push('workers');
      throw new Error('worker close failed');
    });
    shutdown.add('redis', async () => {
      ran.push('redis');
    });
    await shutdown.begin('SIGTERM');
    expect(ran).toEqual(['workers', 'redis']);
    expect(exits).toEqual([0]);
  });

  it('a second signal exits at once with 1, without waiting for the steps', async () => {
    const { shutdown, exits } = shutdownWith();
    let finishStep = () => {};
    shutdown.add('workers', () => new Promise<void>((resolve) => (finishStep = resolve)));
    const first = shutdown.begin('SIGTERM');
    void shutdown.begin('SIGINT');
    expect(exits).toEqual([1]);
    // The steps run only once: the first begin finishes them as usual.
    finishStep();
    await first;
    expect(exits).toEqual([1, 0]);
  });

  it('when the steps outlast the grace period, it exits with 1', async () => {
    vi.useFakeTimers();
    const { shutdown, exits } = shutdownWith(20_000);
    shutdown.add('workers', () => new Promise(() => {})); // a job that never finishes
    const after = vi.fn();
    shutdown.add('redis', async () => after());
    void shutdown.begin('SIGTERM');

    await vi.advanceTimersByTimeAsync(19_999);
    expect(exits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(exits).toEqual([1]);
    expect(after).not.toHaveBeenCalled();
  });

  it('a shutdown that finishes in time cancels the grace timer', async () => {
    vi.useFakeTimers();
    const { shutdown, exits } = shutdownWith(1_000);
    shutdown.add('redis', async () => {});
    await shutdown.begin('SIGTERM');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(exits).toEqual([0]);
  });
});
