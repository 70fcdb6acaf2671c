/** What an inventory request is for; each kind has its own bound and its own latency series. */
export type Endpoint = 'list' | 'detail' | 'patch';

export const ENDPOINTS: readonly Endpoint[] = ['list', 'detail', 'patch'];

export interface RequestGateOptions {
  /** Requests of each kind in flight at once, at most (inventory.page_concurrency, inventory.detail_concurrency). */
  limits: Record<Endpoint, number>;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  now: () => number;
  /** Told on every change of a kind's in-flight count (the in-flight gauge). */
  onInFlight?: (endpoint: Endpoint, inFlight: number) => void;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * Every request to the inventory passes this gate, so one process never has more requests in
 * flight than configured, whatever the number of pages and details wanting one.
 *
 * A 429 or 5xx slows the whole process down, not only the request that got it (as TCP's
 * congestion control does): new requests wait out the server's Retry-After (or the retry's
 * backoff) together, and every kind's window halves, then grows back by one request per
 * window's worth of successes. A stressed inventory so sees fewer requests at once, not the
 * same load plus retries.
 */
export class RequestGate {
  private readonly inFlight: Record<Endpoint, number> = { list: 0, detail: 0, patch: 0 };
  private readonly windows: Record<Endpoint, number>;
  private readonly waiting: Record<Endpoint, Waiter[]> = { list: [], detail: [], patch: [] };
  private readonly started: Record<Endpoint, number> = { list: 0, detail: 0, patch: 0 };
  private pause: Promise<void> | undefined;
  private pauseUntilMs = 0;
  private lastSlowDownMs = -Infinity;

  constructor(private readonly opts: RequestGateOptions) {
    this.windows = { ...opts.limits };
  }

  /** Requests started so far, per kind: a sweep's share is the difference across it. */
  get requestsStarted(): Readonly<Record<Endpoint, number>> {
    return { ...this.started };
  }

  /** The kind's current window: its limit, or less after the inventory pushed back. */
  window(endpoint: Endpoint): number {
    return Math.max(1, Math.floor(this.windows[endpoint]));
  }

  /** Runs `fn` holding one of the kind's slots; waits for a slot and for any pause first. `fn` resolving is a success. */
  async run<T>(endpoint: Endpoint, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    await this.acquire(endpoint, signal);
    this.started[endpoint]++;
    const startedMs = this.opts.now();
    try {
      const result = await fn();
      // Growth on news from after the last push-back only: a request sent before it says nothing about the server now.
      if (startedMs > this.lastSlowDownMs) this.grow(endpoint);
      return result;
    } finally {
      this.release(endpoint);
    }
  }

  /** The inventory pushed back (429, 5xx): hold every new request for `delayMs` and shrink the windows. */
  slowDown(delayMs: number): void {
    const now = this.opts.now();
    if (delayMs > 0 && now + delayMs > this.pauseUntilMs) {
      this.pauseUntilMs = now + delayMs;
      const pause: Promise<void> = this.opts.sleep(delayMs).then(() => {
        if (this.pause === pause) this.pause = undefined;
      });
      this.pause = pause;
    }
    // Requests in flight together fail together: one halving per pause, not one per request.
    if (now - this.lastSlowDownMs < Math.max(delayMs, 1)) return;
    this.lastSlowDownMs = now;
    for (const e of Object.keys(this.windows) as Endpoint[]) this.windows[e] = Math.max(1, this.windows[e] / 2);
  }

  /** A request of this kind succeeded: its window grows by about one per window of successes. */
  private grow(endpoint: Endpoint): void {
    const w = this.windows[endpoint];
    this.windows[endpoint] = Math.min(this.opts.limits[endpoint], w + 1 / w);
  }

  private async acquire(endpoint: Endpoint, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      while (this.pause) await abortable(this.pause, signal);
      if (this.inFlight[endpoint] < this.window(endpoint)) {
        this.inFlight[endpoint]++;
        this.opts.onInFlight?.(endpoint, this.inFlight[endpoint]);
        return;
      }
      await this.wait(endpoint, signal);
    }
  }

  private wait(endpoint: Endpoint, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const queue = this.waiting[endpoint];
          const at = queue.indexOf(waiter);
          if (at >= 0) queue.splice(at, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiting[endpoint].push(waiter);
    });
  }

  private release(endpoint: Endpoint): void {
    this.inFlight[endpoint]--;
    this.opts.onInFlight?.(endpoint, this.inFlight[endpoint]);
    this.wake(endpoint);
  }

  private wake(endpoint: Endpoint): void {
    const free = this.window(endpoint) - this.inFlight[endpoint];
    for (let i = 0; i < free; i++) {
      const waiter = this.waiting[endpoint].shift();
      if (!waiter) return;
      if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.resolve();
    }
  }
}

/** Waits for `promise`, or rejects with the signal's reason as soon as it aborts. */
function abortable(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, reject);
  });
}
