import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkReadiness } from '../../src/lifecycle/readiness.js';
import { redisKeys } from '../../src/redis/keys.js';
import { createLogger } from '../../src/log/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { startHttpServer } from '../../src/http/server.js';
import { connectRedis } from '../../src/redis/connection.js';
import { waitFor } from '../support/daemon.js';
import { singleRedis, startRedis, type ThrowAwayRedis } from '../support/redis-server.js';

const INTERVAL_MS = 60_000;
let server: ThrowAwayRedis;
let redis: Redis;
let http: Awaited<ReturnType<typeof startHttpServer>>;
let schedulerHttp: Awaited<ReturnType<typeof startHttpServer>>;
const clock = { ms: Date.now() };

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(singleRedis(server.url), createLogger('silent'), 'http-test');
  const metrics = new Metrics(new Registry());
  const facts = { redis, prefix: 'http', now: () => clock.ms, intervalMs: INTERVAL_MS, startedAtMs: clock.ms };
  http = await startHttpServer({ registry: metrics.registry, readiness: () => checkReadiness({ ...facts, scheduler: false, workersRunning: () => true }) }, '127.0.0.1', 0);
  schedulerHttp = await startHttpServer({ registry: metrics.registry, readiness: () => checkReadiness({ ...facts, scheduler: true }) }, '127.0.0.1', 0);
  await waitFor('redis to be ready', () => redis.status === 'ready');
});

afterAll(async () => {
  await http?.close();
  await schedulerHttp?.close();
  redis?.disconnect();
  await server?.stop();
});

const get = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`);

describe('HTTP endpoints: /healthz, /metrics, /readyz', () => {
  it('/healthz answers 200 while the process is alive', async () => {
    const res = await get(http.port, '/healthz');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok\n');
  });

  it('/metrics serves the prober\'s metrics in Prometheus text format', async () => {
    const res = await get(http.port, '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const body = await res.text();
    for (const name of ['sweeps_total', 'checks_total', 'probes_total', 'flips_total', 'patches_total', 'patch_failures_total', 'inventory_requests_total', 'icmp_permitted']) {
      expect(body).toContain(`# TYPE inventory_prober_${name} `);
    }
  });

  it('an unknown path is 404', async () => {
    expect((await get(http.port, '/nope')).status).toBe(404);
  });

  it('/readyz is 200 with Redis up, 503 naming Redis while it is down, and 200 again once it is back', async () => {
    let res = await get(http.port, '/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ready: true, checks: { redis: { ok: true }, workers: { ok: true } } });

    await server.kill();
    await waitFor('/readyz to report Redis down', async () => (await get(http.port, '/readyz')).status === 503);
    res = await get(http.port, '/readyz');
    expect(await res.json()).toMatchObject({ ready: false, checks: { redis: { ok: false } } });

    await server.restart();
    await waitFor('/readyz to recover', async () => (await get(http.port, '/readyz')).status === 200, 15_000);
  });

  it('a scheduler is not ready once no sweep succeeded for three cycles, and ready again after one does', async () => {
    clock.ms += 3 * INTERVAL_MS + 1;
    let res = await get(schedulerHttp.port, '/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ checks: { sweep: { ok: false, detail: 'no successful sweep yet' } } });

    // Any replica's successful sweep counts: the mark lives in Redis.
    await redis.set(redisKeys.lastSweepSuccess('http'), String(clock.ms - 1_000));
    res = await get(schedulerHttp.port, '/readyz');
    expect(res.status).toBe(200);
  });
});
