import type { Redis } from 'ioredis';
import { redisKeys } from '../redis/keys.js';

export interface Readiness {
  ready: boolean;
  /** Why not ready, or what makes it ready; shown on /readyz for the operator. */
  checks: Record<string, { ok: boolean; detail: string }>;
}

export interface ReadinessFacts {
  redis: Redis;
  prefix: string;
  now: () => number;
  intervalMs: number;
  startedAtMs: number;
  scheduler: boolean;
  workersRunning?: () => boolean;
}

/**
 * Ready = Redis answers, and for a scheduler a sweep succeeded (on any replica) within three
 * cycles; before the first three cycles have passed, start-up grace counts as fresh.
 */
export async function checkReadiness(f: ReadinessFacts): Promise<Readiness> {
  const checks: Readiness['checks'] = {};
  const redisOk = f.redis.status === 'ready';
  checks.redis = { ok: redisOk, detail: redisOk ? 'connected' : `connection ${f.redis.status}` };
  if (f.workersRunning) {
    const ok = f.workersRunning();
    checks.workers = { ok, detail: ok ? 'running' : 'not running' };
  }
  if (f.scheduler && redisOk) checks.sweep = await sweepFreshness(f);
  return { ready: Object.values(checks).every((c) => c.ok), checks };
}

async function sweepFreshness(f: ReadinessFacts): Promise<{ ok: boolean; detail: string }> {
  const window = 3 * f.intervalMs;
  const last = Number(await f.redis.get(redisKeys.lastSweepSuccess(f.prefix)).catch(() => null)) || 0;
  if (last > 0 && f.now() - last <= window) return { ok: true, detail: `last sweep ${Math.round((f.now() - last) / 1000)} s ago` };
  if (f.now() - f.startedAtMs <= window) return { ok: true, detail: 'starting: first sweep not due yet' };
  return { ok: false, detail: last ? `last successful sweep ${Math.round((f.now() - last) / 1000)} s ago` : 'no successful sweep yet' };
}
