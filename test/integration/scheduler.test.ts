import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { CycleLock } from '../../src/scheduler/cycle-lock.js';
import { redisKeys } from '../../src/redis/keys.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import type { SweepSummary } from '../../src/scheduler/sweep.js';
import { waitFor } from '../support/daemon.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';

const INTERVAL_MS = 60_000;
const logger = createLogger('silent');
let server: ThrowAwayRedis;
let prefixes = 0;
const clients: Redis[] = [];

beforeAll(async () => {
  server = await startRedis();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});
afterAll(async () => {
  await server?.stop();
});

interface Replica {
  name: string;
  scheduler: Scheduler;
  metrics: Metrics;
}

/**
 * Replicas sharing one Redis and one injected wall clock, each with its own connection, as
 * separate processes would be. The injected sweep records which replica swept which cycle, and
 * holds on `gate` when the test wants a slow sweep.
 */
function cluster(names: string[]) {
  const prefix = `sched${++prefixes}`;
  const clock = { ms: 1_700_000_000_000 - (1_700_000_000_000 % INTERVAL_MS) };
  const sweeps: { replica: string; cycle: number }[] = [];
  let gate: Promise<void> | undefined;
  const probe = new Redis(server.url);
  const connections: Redis[] = [];
  clients.push(probe);
  const replicas: Replica[] = names.map((name) => {
    const redis = new Redis(server.url);
    clients.push(redis);
    connections.push(redis);
    const metrics = new Metrics(new Registry(), { defaultMetrics: false });
    const sweep = async (cycle: number): Promise<SweepSummary> => {
      sweeps.push({ replica: name, cycle });
      await gate;
      return { cycle, pages: 1, devices: 0, enqueued: 0, alreadyPending: 0, invalid: 0, countChanges: 0, failedPages: 0, awaitingDetail: 0, requests: { list: 1, detail: 0 }, durationMs: 0 };
    };
    const scheduler = new Scheduler(
      { lock: new CycleLock(redis, prefix, name), sweep, now: () => clock.ms, metrics, logger },
      { intervalSeconds: INTERVAL_MS / 1000 },
    );
    return { name, scheduler, metrics };
  });
  return {
    replicas,
    sweeps,
    clock,
    hold: () => {
      let open = () => {};
      gate = new Promise<void>((resolve) => (open = resolve));
      return () => {
        gate = undefined;
        open();
      };
    },
    /** Every running replica ticks at the same moment, as their croner instances would. */
    tickAll: (among = replicas) => Promise.all(among.map((r) => r.scheduler.tick())),
    /** The sweep in progress, if any, has ended: its mark is released and its replica saw the reply. */
    settled: async () => {
      await waitFor('the sweep to finish', async () => (await probe.exists(redisKeys.sweepRunning(prefix))) === 0);
      // Replies on one connection arrive in order, and a macrotask later every promise chained on
      // the release reply (the replica forgetting its own sweep) has run.
      await Promise.all(connections.map((c) => c.ping()));
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

async function sweepsCounted(metrics: Metrics, result: string): Promise<number> {
  const { values } = await metrics.sweepsTotal.get();
  return values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe('Scheduler across replicas (real CycleLock on a real Redis, injected clock)', () => {
  it('exactly one replica sweeps each cycle, over several cycles', async () => {
    const c = cluster(['a', 'b', 'c']);
    const cycles: number[] = [];
    for (let i = 0; i < 6; i++) {
      cycles.push(c.clock.ms);
      await c.tickAll();
      // Ticks later in the same cycle (croner fires every second) change nothing.
      c.clock.ms += 1_000;
      await c.tickAll();
      await c.settled();
      c.clock.ms += INTERVAL_MS - 1_000;
    }
    expect(c.sweeps.map((s) => s.cycle)).toEqual(cycles);
    const total = async (result: string) => (await Promise.all(c.replicas.map((r) => sweepsCounted(r.metrics, result)))).reduce((a, b) => a + b, 0);
    expect(await total('ok')).toBe(6);
    // Losing the race for a cycle another replica sweeps is not a skipped sweep.
    expect(await total('skipped')).toBe(0);
  });

  it('a sweep cut short by shutdown is not counted as a failed sweep', async () => {
    const redis = new Redis(server.url);
    clients.push(redis);
    const metrics = new Metrics(new Registry(), { defaultMetrics: false });
    let started = () => {};
    const sweepStarted = new Promise<void>((resolve) => (started = resolve));
    // Like the real sweep: the page in flight fails once the scheduler's signal aborts.
    const sweep = (_cycle: number, _intervalMs: number, signal: AbortSignal) =>
      new Promise<SweepSummary>((_resolve, reject) => {
        started();
        signal.addEventListener('abort', () => reject(new Error('inventory aborted on GET /api/v1/inventory_device/')), { once: true });
      });
    const scheduler = new Scheduler({ lock: new CycleLock(redis, `sched${++prefixes}`, 'solo'), sweep, now: () => 1_700_000_040_000, metrics, logger }, { intervalSeconds: 60 });
    void scheduler.tick();
    await sweepStarted;
    await scheduler.stop();
    expect(await sweepsCounted(metrics, 'failed')).toBe(0);
    expect(await sweepsCounted(metrics, 'ok')).toBe(0);
  });

  it('when one replica stops, the others keep sweeping every cycle', async () => {
    const c = cluster(['a', 'b', 'c']);
    await c.tickAll();
    await c.settled();
    const stopped = c.replicas.find((r) => r.name === c.sweeps[0]?.replica) as Replica;
    await stopped.scheduler.stop();

    const cycles: number[] = [];
    for (let i = 0; i < 4; i++) {
      c.clock.ms += INTERVAL_MS;
      cycles.push(c.clock.ms);
      await c.tickAll(c.replicas); // the stopped one ticks too, as a late croner callback would
      await c.settled();
    }
    const after = c.sweeps.slice(1);
    expect(after.map((s) => s.cycle)).toEqual(cycles);
    expect(after.every((s) => s.replica !== stopped.name)).toBe(true);
  });

  it('a sweep still running when the next cycle is due is not doubled, and the skip is counted', async () => {
    const c = cluster(['a', 'b', 'c']);
    const release = c.hold();
    const first = c.clock.ms;
    await c.tickAll();
    await waitFor('the first sweep to start', () => c.sweeps.length === 1);

    c.clock.ms += INTERVAL_MS;
    await c.tickAll();
    c.clock.ms += 1_000;
    await c.tickAll();
    expect(c.sweeps).toHaveLength(1);
    // Every replica, the sweeping one included, reports the cycle it did not sweep.
    expect(await Promise.all(c.replicas.map((r) => sweepsCounted(r.metrics, 'skipped')))).toEqual([1, 1, 1]);

    release();
    await c.settled();
    await c.tickAll(); // still the skipped cycle: it is not swept late on top of the next one
    c.clock.ms += INTERVAL_MS - 1_000;
    const third = c.clock.ms;
    await c.tickAll();
    await c.settled();
    expect(c.sweeps.map((s) => s.cycle)).toEqual([first, third]);
  });

  it('a lone replica whose sweep overruns skips the next cycle and counts it', async () => {
    const c = cluster(['solo']);
    const solo = c.replicas[0] as Replica;
    const release = c.hold();
    const first = c.clock.ms;
    await c.tickAll();
    await waitFor('the sweep to start', () => c.sweeps.length === 1);
    c.clock.ms += INTERVAL_MS;
    await c.tickAll();
    release();
    await c.settled();
    await c.tickAll();

    expect(c.sweeps.map((s) => s.cycle)).toEqual([first]);
    expect(await sweepsCounted(solo.metrics, 'skipped')).toBe(1);
    c.clock.ms += INTERVAL_MS;
    await c.tickAll();
    await c.settled();
    expect(c.sweeps.map((s) => s.cycle)).toEqual([first, c.clock.ms]);
  });
});
