import { STALL_TOLERANCE_MS } from './stall.js';

/** What a DeadlineQueue calls when an entry's deadline has passed. */
export interface Due {
  due(): void;
}

const SLACK_MS = 1; // Node's timers run on libuv's millisecond clock, which may lag performance.now() by up to 1 ms.


export interface DeadlineQueueOptions {
  /**
   * For deadlines that are verdicts ("no reply came"): a reply already in the socket must be read
   * before the deadline is judged. libuv runs due timers *before* it polls sockets, so after a
   * stall (CPU starvation, a GC pause, a long scrape) every due timeout would fire with its reply
   * waiting in the receive buffer: a healthy device counted Down because the prober was busy.
   * With this set, a timer that fired on time judges one turn later (setImmediate runs after the
   * poll phase); one that fired late waits as long again and asks the same question then, so a
   * loop that stays starved never reaches a verdict and the check's budget ends it as a
   * prober-side error instead, as the SNMP probe does.
   */
  judgeAfterPoll?: boolean;
  stallToleranceMs?: number;
}

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
  /** When the armed timer should fire (clock time), to tell a stalled loop from a punctual one. */
  private armedFor = 0;
  /** A verdict waits for the poll phase (judgeAfterPoll): no timer is armed meanwhile. */
  private judging = false;
  private readonly fire = () => this.onTimer();
  private readonly judge = () => {
    this.judging = false;
    this.fireDue();
  };
  private readonly judgeAfterPoll: boolean;
  private readonly stallToleranceMs: number;

  constructor(
    readonly delayMs: number,
    private readonly clock: () => number = () => performance.now(),
    capacity = 1024,
    options: DeadlineQueueOptions = {},
  ) {
    this.judgeAfterPoll = options.judgeAfterPoll ?? false;
    this.stallToleranceMs = options.stallToleranceMs ?? STALL_TOLERANCE_MS;
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
      // While firing or judging, the earliest entry gets its timer when that ends.
      if (!this.firing && !this.judging) this.arm(this.delayMs);
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
    const ms = Math.max(1, Math.ceil(delayMs));
    this.armedFor = this.clock() + ms;
    this.timer = setTimeout(this.fire, ms);
    this.timerRefed = true;
  }

  private onTimer(): void {
    this.timer = undefined;
    if (!this.judgeAfterPoll) return this.fireDue();
    const late = this.clock() - this.armedFor;
    if (late > this.stallToleranceMs) {
      // The loop stalled: what piled up in the sockets meanwhile is read before anything is judged.
      this.arm(late);
      return;
    }
    this.judging = true;
    setImmediate(this.judge);
  }

  private fireDue(): void {
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
