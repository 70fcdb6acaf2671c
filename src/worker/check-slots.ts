/**
 * Caps the device checks one worker process runs at once (`worker.concurrency`), whatever the
 * number of probe jobs in flight and devices per job. A job's devices take their slots
 * together and start together, so its ICMP targets reach one fping batch and share one time
 * budget; each check gives its slot back as soon as it ends.
 */
export class CheckSlots {
  private free: number;
  private readonly waiting: { n: number; start: () => void }[] = [];

  constructor(private readonly size: number) {
    this.free = Math.max(1, size);
  }

  /**
   * Checks `items` in groups of at most `size` that start together, each group under one
   * budget from `budget()`; results in item order.
   */
  async runAll<T, R>(items: readonly T[], check: (item: T, budget: AbortSignal) => Promise<R>, budget: () => AbortSignal): Promise<R[]> {
    const results: R[] = [];
    for (let i = 0; i < items.length; i += this.size) {
      const group = items.slice(i, i + this.size);
      await this.acquire(group.length);
      const signal = budget();
      results.push(...(await Promise.all(group.map((item) => check(item, signal).finally(() => this.release())))));
    }
    return results;
  }

  private acquire(n: number): Promise<void> {
    if (this.waiting.length === 0 && this.free >= n) {
      this.free -= n;
      return Promise.resolve();
    }
    return new Promise((start) => this.waiting.push({ n, start }));
  }

  private release(): void {
    this.free++;
    // First come, first served: a big group is not overtaken by smaller ones forever.
    while (this.waiting.length > 0 && (this.waiting[0] as { n: number }).n <= this.free) {
      const next = this.waiting.shift() as { n: number; start: () => void };
      this.free -= next.n;
      next.start();
    }
  }
}
