import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PendingProbes } from '../../src/queue/pending-probes.js';
import { CycleLock } from '../../src/scheduler/cycle-lock.js';
import { GroupCoverage } from '../../src/queue/group-coverage.js';
import { StatusStore, inventoryHolds, patchDue, type DeviceCheckRecord } from '../../src/status/store.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';

const T = { downAfter: 3, upAfter: 1 };
let server: ThrowAwayRedis;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

const down = (atMs: number) => ({ outcome: 'down' as const, reason: 'icmp: no reply', atMs });
const up = (atMs: number) => ({ outcome: 'up' as const, reason: 'ok', atMs });

describe('StatusStore (Redis)', () => {
  it('keeps hysteresis across store instances, as across worker processes and restarts', async () => {
    const seenUp = { status: true, atMs: 0 };
    await new StatusStore(redis, 'a').apply(1, seenUp, down(1), T);
    await new StatusStore(redis, 'a').apply(1, seenUp, down(2), T);
    const third = await new StatusStore(redis, 'a').apply(1, seenUp, down(3), T);
    expect(third.flip).toEqual({ from: 'up', to: 'down' });
    expect(patchDue(third.state)).toBe(true);
  });

  it('a PATCH is due only until our write is newer than the sweep that read the old status', async () => {
    const store = new StatusStore(redis, 'b');
    for (let i = 1; i <= 3; i++) await store.apply(2, { status: true, atMs: 100 }, down(100 + i), T);
    await store.markWritten(2, 'down', 200);
    let s = await store.get(2);
    expect(s && inventoryHolds(s)).toBe('down');
    expect(s && patchDue(s)).toBe(false);
    // A sweep that read the page before our PATCH landed still says "up": no second PATCH.
    s = (await store.apply(2, { status: true, atMs: 150 }, down(210), T)).state;
    expect(patchDue(s)).toBe(false);
    // Someone set it back to up in the inventory after our write: the next sweep repairs it.
    s = (await store.apply(2, { status: true, atMs: 300 }, down(310), T)).state;
    expect(patchDue(s)).toBe(true);
  });

  it('concurrent checks of one device are serialised, none is lost', async () => {
    const store = new StatusStore(redis, 'c');
    await Promise.all([1, 2, 3, 4, 5, 6].map((i) => store.apply(3, { status: true, atMs: 0 }, down(i), T)));
    expect((await store.get(3))?.failStreak).toBe(6);
  });

  it("a probe job's devices recorded together (applyMany) end exactly as one by one", async () => {
    const together = new StatusStore(redis, 'e1');
    const alone = new StatusStore(redis, 'e2');
    const seenUp = { status: true, atMs: 0 };
    for (let round = 1; round <= 3; round++) {
      const checks = [1, 2, 3, 4].map((id) => ({ deviceId: id, observation: seenUp, check: id % 2 === 0 ? down(round) : up(round) }));
      const settled = await together.applyMany(checks, T);
      for (const c of checks) {
        const one = await alone.apply(c.deviceId, c.observation, c.check, T);
        const many = settled[c.deviceId - 1];
        expect(many?.status).toBe('fulfilled');
        if (many?.status === 'fulfilled') expect({ flip: many.value.flip, state: many.value.state }).toEqual({ flip: one.flip, state: one.state });
      }
    }
    expect((await together.get(2))?.status).toBe('down');
    expect((await together.get(1))?.status).toBe('up');
  });

  it('applyMany loses no check when another worker changes a device in between (stalled job re-run)', async () => {
    const store = new StatusStore(redis, 'f');
    const seenUp = { status: true, atMs: 0 };
    const checks = [7, 8].map((id) => ({ deviceId: id, observation: seenUp, check: down(1) }));
    // Both writers read the same version; the compare-and-set sends the loser through apply.
    const [a, b] = await Promise.all([store.applyMany(checks, T), store.applyMany(checks, T)]);
    for (const settled of [...(a ?? []), ...(b ?? [])]) expect(settled.status).toBe('fulfilled');
    expect((await store.get(7))?.failStreak).toBe(2);
    expect((await store.get(8))?.failStreak).toBe(2);
  });

  it('applyMany records every check on a Redis that lost its scripts (restart, failover, SCRIPT FLUSH)', async () => {
    const store = new StatusStore(redis, 'g');
    const seenUp = { status: true, atMs: 0 };
    const checks = [11, 12, 13].map((id) => ({ deviceId: id, observation: seenUp, check: down(1) }));
    await store.applyMany(checks, T);
    await redis.script('FLUSH');
    const settled = await store.applyMany(checks.map((c) => ({ ...c, check: down(2) })), T);
    for (const s of settled) expect(s.status).toBe('fulfilled');
    for (const id of [11, 12, 13]) expect((await store.get(id))?.failStreak).toBe(2);
  });

  it('forget drops the device, and it starts again from the inventory\'s status', async () => {
    const store = new StatusStore(redis, 'd');
    await store.apply(4, { status: true, atMs: 0 }, down(1), T);
    await store.forget(4);
    expect(await store.get(4)).toBeUndefined();
    const fresh = await store.apply(4, { status: false, atMs: 2 }, up(3), T);
    expect(fresh.flip).toEqual({ from: 'down', to: 'up' });
  });
});

describe('PendingProbes (Redis)', () => {
  it('claims a device for one sweep at a time; a job releases only its own sweep\'s claims', async () => {
    const pending = new PendingProbes(redis, 'g');
    expect([...(await pending.claim(1_000, [1, 2, 3], 180_000))]).toEqual([1, 2, 3]);
    // Same or next sweep: still pending, not claimed again.
    expect([...(await pending.claim(1_000, [1, 2, 3], 180_000))]).toEqual([]);
    expect([...(await pending.claim(61_000, [2, 3, 4], 180_000))]).toEqual([4]);
    // The first sweep's job ran: its devices are free, the later sweep's claim on 4 stays.
    await pending.release(1_000, [1, 2, 3, 4]);
    expect([...(await pending.claim(121_000, [1, 4], 180_000))]).toEqual([1]);
  });

  it('takes over a claim older than the stale limit: its job was lost', async () => {
    const pending = new PendingProbes(redis, 'h');
    await pending.claim(1_000, [9], 180_000);
    expect([...(await pending.claim(181_000, [9], 180_000))]).toEqual([]);
    expect([...(await pending.claim(181_001, [9], 180_000))]).toEqual([9]);
  });
});

describe('CycleLock (Redis)', () => {
  it('exactly one of several replicas sweeps a cycle', async () => {
    const locks = ['r1', 'r2', 'r3'].map((o) => new CycleLock(redis, 'lock1', o));
    const results = await Promise.all(locks.map((l) => l.claim(60_000, 60_000)));
    expect(results.filter((r) => r === 'claimed')).toHaveLength(1);
  });

  it('a sweep still running is not doubled by the next cycle, and the next one runs after it ends', async () => {
    const a = new CycleLock(redis, 'lock2', 'a');
    const b = new CycleLock(redis, 'lock2', 'b');
    expect(await a.claim(1_000, 1_000)).toBe('claimed');
    expect(await b.claim(2_000, 1_000)).toBe('busy');
    await a.release();
    expect(await b.claim(3_000, 1_000)).toBe('claimed');
    // Cycle 3000 is already claimed: other replicas see it as taken even while b still sweeps it.
    expect(await a.claim(3_000, 1_000)).toBe('taken');
    await b.release();
    expect(await a.claim(3_000, 1_000)).toBe('taken');
  });

  it('only the owner can release the running mark', async () => {
    const a = new CycleLock(redis, 'lock3', 'a');
    const b = new CycleLock(redis, 'lock3', 'b');
    expect(await a.claim(1, 1_000)).toBe('claimed');
    await b.release();
    expect(await b.claim(2, 1_000)).toBe('busy');
  });
});

describe('patchDue after Redis lost the state', () => {
  it('a status only seeded from the inventory, never confirmed by a check, causes no PATCH', async () => {
    const store = new StatusStore(redis, 'seed');
    // Our PATCH said down; Redis is wiped; the first check to come back carries a stale "up" read.
    await store.markWritten(9, 'down', 500);
    const { state } = await store.apply(9, { status: true, atMs: 100 }, { outcome: 'down', reason: 'icmp: no reply', atMs: 600 }, T);
    expect(state.status).toBe('up');
    expect(patchDue(state)).toBe(false);
  });
});

const GROUP_T = { downAfter: 2, upAfter: 1 };
const QUORUM = { groups: ['a', 'b'], downAt: 2 };
const record = (deviceId: number, group: string, outcome: 'up' | 'down', atMs: number): DeviceCheckRecord => ({
  deviceId,
  observation: { status: true, atMs: 0 },
  check: { outcome, reason: outcome === 'down' ? 'no-reply' : 'ok', atMs },
  group,
  quorum: QUORUM,
});

describe('per-group state in Redis', () => {
  it('a quorum device keeps each group\'s hysteresis in its one hash; blocked from one group only, it stays Up', async () => {
    const store = new StatusStore(redis, 'q1');
    for (let i = 1; i <= 4; i++) {
      const [a, b] = await store.applyMany([record(1, 'a', 'down', i), record(1, 'b', 'up', i)], GROUP_T);
      expect(a?.status === 'fulfilled' && a.value.flip).toBeFalsy();
      expect(b?.status === 'fulfilled' && b.value.flip).toBeFalsy();
    }
    const state = await store.get(1);
    expect(state?.status).toBe('up');
    expect(state?.groups?.a).toMatchObject({ status: 'down', failStreak: 4 });
    expect(state?.groups?.b).toMatchObject({ status: 'up', okStreak: 4 });
  });

  it('two groups recording at once flip the device exactly once (the compare-and-set covers the votes)', async () => {
    const stores = [new StatusStore(redis, 'q2'), new StatusStore(redis, 'q2')];
    const flips: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const results = await Promise.all([stores[0]?.applyMany([record(2, 'a', 'down', i)], GROUP_T), stores[1]?.applyMany([record(2, 'b', 'down', i)], GROUP_T)]);
      for (const r of results.flatMap((x) => x ?? [])) if (r.status === 'fulfilled' && r.value.flip) flips.push(`${r.value.flip.to}:${JSON.stringify(r.value.votes)}`);
    }
    expect(flips).toEqual(['down:{"a":"down","b":"down"}']);
    const state = await stores[0]?.get(2);
    expect(state?.status).toBe('down');
    expect(state && patchDue(state)).toBe(true);
  });

  it('pending claims are per group: a device claimed in group a can still be claimed in group b', async () => {
    const a = new PendingProbes(redis, 'q3', 'a');
    const b = new PendingProbes(redis, 'q3', 'b');
    expect([...(await a.claim(1000, [7], 60_000))]).toEqual([7]);
    expect([...(await a.claim(2000, [7], 60_000))]).toEqual([]);
    expect([...(await b.claim(2000, [7], 60_000))]).toEqual([7]);
    // The default group keeps the key it had before groups existed.
    expect(new PendingProbes(redis, 'q3').key).toBe('q3:probe:pending');
    expect(b.key).toBe('q3:probe:pending:b');
  });

  it('a job whose devices a newer sweep queued again (its claim taken over as stale) leaves them to the newer job', async () => {
    const pending = new PendingProbes(redis, 'q5', 'b');
    await pending.claim(1000, [1, 2], 3000);
    // Nobody took the first job for three cycles: the sweep of 5000 queues device 1 again.
    await pending.claim(5000, [1], 3000);
    expect([...(await pending.supersededSince(1000, [1, 2, 3]))]).toEqual([1]);
    expect([...(await pending.supersededSince(5000, [1]))]).toEqual([]);
  });

  it('group coverage: a device new to a group starts its two-cycle grace at the sweep that first hands it over', async () => {
    const coverage = new GroupCoverage(redis, 'q4');
    expect(await coverage.lastChecks('b', 5000, [1, 2])).toEqual([5000, 5000]);
    await coverage.markChecked('b', [1], 6500);
    expect(await coverage.lastChecks('b', 7000, [1, 2, 3])).toEqual([6500, 5000, 7000]);
    await coverage.forget(['b'], ['1', '2', '3']);
    expect(await redis.hlen(coverage.lastCheckKey('b'))).toBe(0);
  });
});
