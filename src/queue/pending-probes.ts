import type { Redis } from 'ioredis';
import { DEFAULT_GROUP } from './jobs.js';
import { redisKeys } from '../redis/keys.js';
import { LuaScript } from '../redis/lua-script.js';
import { CLAIM_PENDING, RELEASE_PENDING } from '../redis/scripts.js';

const claimPending = new LuaScript(CLAIM_PENDING);
const releasePending = new LuaScript(RELEASE_PENDING);

/**
 * At most one probe pending per device, across probe jobs that hold many devices each: the
 * sweep claims a device before queueing it, the worker releases the claim after the check. A
 * device whose check from an earlier sweep has not run yet is left out of this sweep, so slow
 * workers never pile up a backlog and no device is checked twice for one cycle.
 *
 * Claims are per probe group: a device several groups vote on is pending once in each of them,
 * and one group's dead workers never hold back another group's checks of the same device.
 */
export class PendingProbes {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly group: string = DEFAULT_GROUP,
  ) {}

  /** The default group keeps the key it had before groups existed, so an upgrade keeps its claims. */
  get key(): string {
    return redisKeys.pendingProbes(this.prefix, this.group === DEFAULT_GROUP ? undefined : this.group);
  }

  /**
   * Returns the ids this sweep claimed; the others are still pending from an earlier one. A
   * claim older than `staleAfterMs` is taken to be lost and is claimed again.
   */
  async claim(cycle: number, ids: number[], staleAfterMs: number): Promise<Set<number>> {
    if (ids.length === 0) return new Set();
    const claimed = (await claimPending.run(this.redis, [this.key], [String(cycle), String(cycle - staleAfterMs), ...ids.map(String)])) as string[];
    return new Set(claimed.map(Number));
  }

  /**
   * The ids a newer sweep has claimed since this job's sweep did: their claim was taken over as
   * stale (nobody took this job for STALE_CLAIM_CYCLES, e.g. a group without live workers), and
   * the newer job checks them. A group's returning workers then run each device's newest job
   * only, instead of a burst of stale checks through the hysteresis.
   */
  async supersededSince(cycle: number, ids: number[]): Promise<Set<number>> {
    if (ids.length === 0) return new Set();
    const claims = await this.redis.hmget(this.key, ...ids.map(String));
    return new Set(ids.filter((_, i) => claims[i] !== null && Number(claims[i]) > cycle));
  }

  async release(cycle: number, ids: number[]): Promise<void> {
    if (ids.length > 0) await releasePending.run(this.redis, [this.key], [String(cycle), ...ids.map(String)]);
  }

  async forget(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.hdel(this.key, ...ids);
  }
}

/** Per-group pending claims, one object per group for the life of the process. */
export function pendingByGroup(redis: Redis, prefix: string): (group: string) => PendingProbes {
  const byGroup = new Map<string, PendingProbes>();
  return (group) => {
    let pending = byGroup.get(group);
    if (!pending) byGroup.set(group, (pending = new PendingProbes(redis, prefix, group)));
    return pending;
  };
}
