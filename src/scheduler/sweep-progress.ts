/** The sweep's bookkeeping of work in progress: pages being handled, details being waited for. */
import { setTimeout as delay } from 'node:timers/promises';
import type { Device } from '../inventory/device.js';

/**
 * Pages handled at once. Handling a page is mostly Redis round trips (membership, the detail
 * cache, the probe queue), so one page at a time would make the sweep as slow as Redis's
 * latency times the page count, however fast the inventory answers.
 */
const PAGES_HANDLED_AT_ONCE = 8;

/** Devices whose detail this sweep waits for; those arriving after it ended are left to the next. */
export class DetailArrivals {
  private arrived: Device[] = [];
  private pending = 0;
  private closed = false;
  private wake?: () => void;

  get outstanding(): number {
    return this.pending;
  }

  expect(detail: Promise<Device | undefined>): void {
    this.pending++;
    void detail.then((device) => {
      if (this.closed) return;
      this.pending--;
      if (device) this.arrived.push(device);
      this.wake?.();
    });
  }

  take(): Device[] {
    return this.arrived.splice(0);
  }

  /** Waits `ms`, less if every expected detail is in. */
  async next(ms: number, signal: AbortSignal): Promise<void> {
    const allIn = new Promise<void>((resolve) => (this.wake = () => this.pending === 0 && resolve()));
    await Promise.race([allIn, delay(ms, undefined, { signal }).catch(() => undefined)]);
    this.wake = undefined;
  }

  /** Ends the wait; returns how many never arrived. */
  close(): number {
    this.closed = true;
    return this.pending;
  }
}

/** Up to PAGES_HANDLED_AT_ONCE page handlings; the first failure is thrown by the next add or drain. */
export class PagesInProgress {
  private readonly running = new Set<Promise<void>>();
  private failure: { err: unknown } | undefined;

  async add(work: Promise<void>): Promise<void> {
    const tracked: Promise<void> = work.then(
      () => void this.running.delete(tracked),
      (err: unknown) => {
        this.running.delete(tracked);
        this.failure ??= { err };
      },
    );
    this.running.add(tracked);
    while (this.running.size >= PAGES_HANDLED_AT_ONCE) await Promise.race(this.running);
    this.throwIfFailed();
  }

  async drain(): Promise<void> {
    await Promise.all(this.running);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.err;
  }
}
