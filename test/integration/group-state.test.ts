import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCoverage } from '../../src/queue/group-coverage.js';
import { PendingProbes } from '../../src/queue/pending-probes.js';
import { StatusStore, patchDue, type DeviceCheckRecord } from '../../src/status/store.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';

const T = { downAfter: 2, upAfter: 1 };
const QUORUM = { groups: ['a', 'b'], downAt: 2 };
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
      const [a, b] = await store.applyMany([record(1, 'a', 'down', i), record(1, 'b', 'up', i)], T);
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
      const results = await Promise.all([stores[0]?.applyMany([record(2, 'a', 'down', i)], T), stores[1]?.applyMany([record(2, 'b', 'down', i)], T)]);
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
