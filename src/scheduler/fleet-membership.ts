import type { Redis } from 'ioredis';
import { redisKeys } from '../redis/keys.js';

/**
 * Which devices the inventory listed in the last complete sweep. Each sweep collects its ids
 * in a set of its own; only a sweep that read every page replaces the current set, so a failed
 * sweep never makes devices look removed. Devices missing from a complete sweep are returned
 * so their series and state can be dropped within one cycle.
 */
export class FleetMembership {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private pendingKey(cycle: number): string {
    return redisKeys.fleetOfCycle(this.prefix, cycle);
  }

  private get currentKey(): string {
    return redisKeys.fleetCurrent(this.prefix);
  }

  async add(cycle: number, ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    const key = this.pendingKey(cycle);
    // A pipeline, not MULTI: the two need not be atomic (the next page sets the TTL again), and
    // a transaction's MULTI, EXEC and QUEUED replies are a third of this per-page call's cost.
    const replies = (await this.redis.pipeline().sadd(key, ...ids.map(String)).expire(key, 24 * 3600).exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
  }

  /** Makes this sweep's set current; returns the ids the previous complete sweep had and this one lacks. */
  async commit(cycle: number): Promise<string[]> {
    const key = this.pendingKey(cycle);
    const removed = await this.redis.sdiff(this.currentKey, key);
    // An empty sweep leaves no set behind to rename: the fleet is then empty.
    if ((await this.redis.exists(key)) === 1) await this.redis.rename(key, this.currentKey);
    else await this.redis.del(this.currentKey);
    await this.redis.persist(this.currentKey);
    return removed;
  }

  async discard(cycle: number): Promise<void> {
    await this.redis.del(this.pendingKey(cycle));
  }
}
