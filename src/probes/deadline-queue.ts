/** What a DeadlineQueue calls when an entry's deadline has passed. */
export interface Due {
  due(): void;
}

const SLACK_MS = 1; // Node's timers run on libuv's millisecond clock, which may lag performance.now() by up to 1 ms.

/**
 * Timers that all wait the same `delayMs` (the native ICMP engine's interval between requests,
 * or its per-reply timeout), for thousands of checks a second. Because every entry waits the
 * same delay, the order entries are added in is their deadline order: a ring buffer is the
 * sorted list, adding and cancelling are O(1), and one Node timer, armed for the earliest
 * live entry, serves them all. A setTimeout per request cost a Timeout object, an insert into
 * Node's timer lists and a clearTimeout at nearly every reply (docs/performance.md).
 *
 * A cancelled entry's slot is cleared at once, so the queue never keeps a settled check alive
 * for the garbage collector to copy. The timer holds the process open only while a live entry
 * waits (an idle engine lets the process exit, as the per-check timers did).
 */
export class DeadlineQueue<T extends Due> {
  private items: (T | undefined)[];
  private deadlines: Float64Array;
  private mask: number;
  // Absolute positions (they only grow); an entry lives at `position & mask`.
  private head = 0;
  private tail = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerRefed = false;
  private firing = false;
  private readonly fire = () => this.onTimer();

  constructor(
    readonly delayMs: number,
    private readonly clock: () => number = () => performance.now(),
    capacity = 1024,
  ) {
    let size = 16;
    while (size < capacity) size *= 2;
    this.items = new Array<T | undefined>(size).fill(undefined);
    this.deadlines = new Float64Array(size);
    this.mask = size - 1;
  }

  /** Entries not yet due or cancelled (cancelled ones in the middle still count until passed). */
  get size(): number {
    return this.tail - this.head;
  }

  /** Calls `item.due()` once, `delayMs` from now, unless cancelled; returns the ticket for cancel(). */
  add(item: T): number {
    if (this.tail - this.head > this.mask) this.grow();
    const at = this.clock() + this.delayMs;
    const position = this.tail++;
    this.items[position & this.mask] = item;
    this.deadlines[position & this.mask] = at;
    if (!this.timer) {
      if (!this.firing) this.arm(this.delayMs); // while firing, onTimer arms for the earliest entry
    } else if (!this.timerRefed) {
      this.timer.ref();
      this.timerRefed = true;
    }
    return position;
  }

  /** Forgets the entry `ticket` if it is still `item`'s (a ticket already fired or cancelled is ignored). */
  cancel(ticket: number, item: T): void {
    if (ticket < this.head || ticket >= this.tail) return;
    const slot = ticket & this.mask;
    if (this.items[slot] !== item) return;
    this.items[slot] = undefined;
    this.skipCancelled();
  }

  /** Drops every entry and the timer (the engine closes). */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.items.fill(undefined);
    this.head = this.tail = 0;
  }

  private skipCancelled(): void {
    while (this.head < this.tail && this.items[this.head & this.mask] === undefined) this.head++;
    // Nothing live waits: the armed timer may fire (and find nothing) but must not hold the process open.
    if (this.head === this.tail && this.timer && this.timerRefed) {
      this.timer.unref();
      this.timerRefed = false;
    }
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(delayMs)));
    this.timerRefed = true;
  }

  private onTimer(): void {
    this.timer = undefined;
    this.firing = true;
    const now = this.clock();
    const end = this.tail; // entries added by due() wait for the next firing, even with a zero delay
    try {
      while (this.head < end) {
        const slot = this.head & this.mask;
        const item = this.items[slot];
        if (item !== undefined) {
          if (this.deadlines[slot]! > now + SLACK_MS) break;
          this.items[slot] = undefined;
        }
        this.head++;
        // May add to this queue (the next request's timer), or cancel entries behind this one.
        if (item !== undefined) item.due();
      }
    } finally {
      this.firing = false;
    }
    this.skipCancelled();
    if (this.head < this.tail) this.arm(this.deadlines[this.head & this.mask]! - now);
  }

  /** Doubles the ring; every entry keeps its absolute position (so its ticket), at `position & newMask`. */
  private grow(): void {
    const size = (this.mask + 1) * 2;
    const items = new Array<T | undefined>(size).fill(undefined);
    const deadlines = new Float64Array(size);
    const mask = size - 1;
    for (let p = this.head; p < this.tail; p++) {
      items[p & mask] = this.items[p & this.mask];
      deadlines[p & mask] = this.deadlines[p & this.mask]!;
    }
    this.items = items;
    this.deadlines = deadlines;
    this.mask = mask;
  }
}
