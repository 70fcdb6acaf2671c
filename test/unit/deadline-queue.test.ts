import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DeadlineQueue } from '../../src/probes/deadline-queue.js';

/**
 * The native ICMP engine's timers (src/probes/deadline-queue.ts) on Node's real timers: what
 * fires, in which order, and what never fires. Nothing here asserts how long anything took.
 */
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An entry added last: once it fires, every entry added before it has had its turn (deadline order). */
function sentinel<T extends { due(): void }>(queue: DeadlineQueue<T>, make: (onDue: () => void) => T): Promise<void> {
  return new Promise((resolve) => void queue.add(make(resolve)));
}

class Entry {
  fired = 0;
  constructor(
    readonly name: string,
    private readonly log: string[],
    private readonly onDue?: () => void,
  ) {}
  due(): void {
    this.fired++;
    this.log.push(this.name);
    this.onDue?.();
  }
}

describe('DeadlineQueue', () => {
  it('fires every entry once, in the order added, and never a cancelled one', async () => {
    const log: string[] = [];
    const queue = new DeadlineQueue<Entry>(20);
    const entries = Array.from({ length: 10 }, (_, i) => new Entry(`e${i}`, log));
    const tickets = entries.map((e) => queue.add(e));
    queue.cancel(tickets[0]!, entries[0]!);
    queue.cancel(tickets[4]!, entries[4]!);
    queue.cancel(tickets[9]!, entries[9]!);
    queue.cancel(tickets[9]!, entries[9]!); // twice: no effect
    await sentinel(queue, (onDue) => new Entry('last', log, onDue));
    expect(log).toEqual(['e1', 'e2', 'e3', 'e5', 'e6', 'e7', 'e8', 'last']);
    expect(entries.map((e) => e.fired)).toEqual([0, 1, 1, 1, 0, 1, 1, 1, 1, 0]);
    expect(queue.size).toBe(0);
  });

  it('a ticket that already fired, or that names another entry, cancels nothing', async () => {
    const log: string[] = [];
    const queue = new DeadlineQueue<Entry>(5);
    const a = new Entry('a', log);
    const b = new Entry('b', log);
    const ticketA = queue.add(a);
    await sentinel(queue, (onDue) => new Entry('-', log, onDue));
    const ticketB = queue.add(b);
    queue.cancel(ticketA, a); // fired already
    queue.cancel(ticketB, a); // b's slot, not a's
    await sentinel(queue, (onDue) => new Entry('-', log, onDue));
    expect(log).toEqual(['a', '-', 'b', '-']);
  });

  it('entries added at different times fire in deadline order, and one added while firing waits its own delay', async () => {
    const log: string[] = [];
    const queue = new DeadlineQueue<Entry>(15);
    let rearmed: Entry | undefined;
    const first = new Entry('first', log, () => {
      rearmed = new Entry('again', log);
      queue.add(rearmed);
    });
    queue.add(first);
    await settle(5);
    queue.add(new Entry('second', log));
    await new Promise<void>((resolve) => {
      const poll = () => (rearmed?.fired ? resolve() : setTimeout(poll, 5));
      poll();
    });
    expect(log).toEqual(['first', 'second', 'again']);
    expect(rearmed?.fired).toBe(1);
  });

  it('grows past its capacity and keeps every ticket valid', async () => {
    const log: string[] = [];
    const queue = new DeadlineQueue<Entry>(20, undefined, 16);
    const entries = Array.from({ length: 100 }, (_, i) => new Entry(String(i), log));
    const tickets = entries.map((e) => queue.add(e));
    // Tickets handed out before the ring doubled (several times) still cancel their own entry.
    for (let i = 0; i < 100; i += 3) queue.cancel(tickets[i]!, entries[i]!);
    await sentinel(queue, (onDue) => new Entry('last', log, onDue));
    expect(log).toEqual([...entries.filter((_, i) => i % 3 !== 0).map((e) => e.name), 'last']);
  });

  it('a zero delay still fires on a later turn, and clear() drops everything', async () => {
    const log: string[] = [];
    const zero = new DeadlineQueue<Entry>(0);
    zero.add(new Entry('zero', log));
    expect(log).toEqual([]);
    const cleared = new DeadlineQueue<Entry>(10);
    cleared.add(new Entry('dropped', log));
    cleared.clear();
    await sentinel(zero, (onDue) => new Entry('last', log, onDue));
    await settle(30); // past the cleared entry's deadline too
    expect(log).toEqual(['zero', 'last']);
  });

  it('holds the process open while a live entry waits, and not once every entry is cancelled', () => {
    // Runs against the build (npm run build), in a child process whose exit is what is checked.
    const dist = new URL('../../dist/probes/deadline-queue.js', import.meta.url).href;
    const run = (body: string) =>
      spawnSync(process.execPath, ['--input-type=module', '-e', `const { DeadlineQueue } = await import(${JSON.stringify(dist)});\n${body}`], {
        encoding: 'utf8',
        timeout: 20_000,
      });
    const cancelled = run(`
      const q = new DeadlineQueue(60000);
      const e = { due() { console.log('fired'); } };
      q.cancel(q.add(e), e);
      console.log('done');`);
    expect(cancelled.signal).toBeNull(); // not killed by the 20 s guard: nothing kept it open
    expect(cancelled.stdout).toBe('done\n');
    const live = run(`
      const q = new DeadlineQueue(30);
      const e = { due() { console.log('cancelled fired'); } };
      q.add({ due() { console.log('live fired'); } });
      q.cancel(q.add(e), e);`);
    expect(live.stdout).toBe('live fired\n');
  });

  // That a reply waiting in a socket is read before the verdict is shown with real sockets in
  // test/integration/native-icmp-stall.test.ts; here, what a late timer does.
  describe('judgeAfterPoll (verdict deadlines: "no reply came")', () => {
    it('after a stall (the timer fired late) it judges nothing until a timer fires on time again', async () => {
      const log: string[] = [];
      let skew = 0;
      const clock = () => performance.now() + skew;
      const queue = new DeadlineQueue<Entry>(20, clock, undefined, { judgeAfterPoll: true });
      const entry = new Entry('e', log);
      queue.add(entry);
      // The first firing reads a clock 200 ms on: the loop "stalled"; the queue waits as long again.
      const stallAt = setTimeout(() => (skew += 200), 10);
      await settle(60);
      expect(log).toEqual([]);
      await settle(250);
      expect(log).toEqual(['e']);
      clearTimeout(stallAt);
    });

    it('a loop that stays starved never reaches the verdict (the check budget ends the check instead)', async () => {
      const log: string[] = [];
      let skew = 0;
      // Every look at the clock finds the timer 100 ms later than the last: the loop never catches up.
      const queue = new DeadlineQueue<Entry>(10, () => performance.now() + (skew += 100), undefined, { judgeAfterPoll: true, stallToleranceMs: 25 });
      const entry = new Entry('e', log);
      const ticket = queue.add(entry);
      await settle(150);
      expect(log).toEqual([]);
      queue.cancel(ticket, entry);
      queue.clear();
    });
  });
});

