import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MassOutageGuard } from '../../src/status/mass-outage-guard.js';
import { StatusStore } from '../../src/status/store.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';

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

const settings = { enabled: true, share: 0.5, minDevices: 10, intervalMs: 60_000 };
const clock = (t: number) => () => t;

function feed(guard: MassOutageGuard, up: number, down: number) {
  for (let i = 0; i < up; i++) guard.count('up');
  for (let i = 0; i < down; i++) guard.count('down');
}

describe('mass-outage guard (Redis, shared by workers)', () => {
  it('holds Down flips when more than half the checked fleet fails at once, counted across workers', async () => {
    const a = new MassOutageGuard(redis, 'g1', settings, clock(1_000_000));
    const b = new MassOutageGuard(redis, 'g1', settings, clock(1_000_500));
    feed(a, 5, 10);
    feed(b, 5, 10);
    await a.flush();
    expect(await b.shouldHold()).toBe(true);
    expect(await a.heldRecently()).toBe(1);
  });

  it('lets real flips through when only a few devices fail', async () => {
    const g = new MassOutageGuard(redis, 'g2', settings, clock(2_000_000));
    feed(g, 90, 10);
    expect(await g.shouldHold()).toBe(false);
  });

  it('ignores a small fleet\'s failures below min_devices, and prober-side errors', async () => {
    const g = new MassOutageGuard(redis, 'g3', settings, clock(3_000_000));
    feed(g, 1, 5);
    for (let i = 0; i < 50; i++) g.count('error');
    expect(await g.shouldHold()).toBe(false);
  });

  it('lifts once the failing share drops: the window moves on', async () => {
    let now = 4_000_000;
    const g = new MassOutageGuard(redis, 'g4', settings, () => now);
    feed(g, 0, 20);
    expect(await g.shouldHold()).toBe(true);
    now += 120_000; // two intervals later the outage's buckets are out of the window
    feed(g, 40, 2);
    expect(await g.shouldHold()).toBe(false);
  });

  it('a setting turns it off', async () => {
    const g = new MassOutageGuard(redis, 'g5', { ...settings, enabled: false }, clock(5_000_000));
    feed(g, 0, 100);
    expect(await g.shouldHold()).toBe(false);
  });

  it('the status store holds the flip and records the device as still Up', async () => {
    const store = new StatusStore(redis, 'g6');
    const T = { downAfter: 1, upAfter: 1 };
    const t = await store.apply(1, { status: true, atMs: 0 }, { outcome: 'down', reason: 'icmp: no reply', atMs: 1 }, T, async () => true);
    expect(t.held).toBe(true);
    expect(t.flip).toBeUndefined();
    expect((await store.get(1))?.status).toBe('up');
  });
});
