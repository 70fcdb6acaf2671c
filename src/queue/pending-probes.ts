import type { Redis } from 'ioredis';
import { redisKeys } from '../redis/keys.js';
import { CLAIM_PENDING, RELEASE_PENDING } from '../redis/scripts.js';

/**
 * At most one probe pending per device, across probe jobs that hold many devices each: the
 * sweep claims a device before queueing it, the worker releases the claim after the check. A
 * device whose check from an earlier sweep has not run yet is left out of this sweep, so slow
 * workers never pile up a backlog and no device is checked twice for one cycle.
 */
export class PendingProbes {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  get key(): string {
    return redisKeys.pendingProbes(this.prefix);
  }

  /**
   * Returns the ids this sweep claimed; the others are still pending from an earlier one. A
   * claim older than `staleAfterMs` is taken to be lost and is claimed again.
   */
  async claim(cycle: number, ids: number[], staleAfterMs: number): Promise<Set<number>> {
    if (ids.length === 0) return new Set();
    const claimed = (await this.redis.eval(CLAIM_PENDING, 1, this.key, String(cycle), String(cycle - staleAfterMs), ...ids.map(String))) as string[];
    return new Set(claimed.map(Number));
  }

  async release(cycle: number, ids: number[]): Promise<void> {
    if (ids.length > 0) await this.redis.eval(RELEASE_PENDING, 1, this.key, String(cycle), ...ids.map(String));
  }

  async forget(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.hdel(this.key, ...ids);
  }
}
