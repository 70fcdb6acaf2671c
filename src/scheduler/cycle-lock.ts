import type { Redis } from 'ioredis';
import { redisKeys } from '../redis/keys.js';
import { CLAIM_CYCLE, EXTEND_IF_OWNER, RELEASE_IF_OWNER, SKIP_CYCLE } from '../redis/scripts.js';

export type ClaimResult = 'claimed' | 'taken' | 'busy';

/**
 * Cluster-wide agreement on who sweeps. Every scheduler replica ticks on the same wall-clock
 * schedule; the first to `SET NX` the cycle's key sweeps it, the others stand by, so exactly one
 * sweep runs per cycle and losing any replica only moves the next cycle to another. A second
 * key marks a sweep in progress so a slow sweep is never doubled by the next cycle.
 */
export class CycleLock {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly owner: string,
  ) {}

  async claim(cycle: number, intervalMs: number): Promise<ClaimResult> {
    const keys = [this.runningKey(), this.cycleKey(cycle)];
    return (await this.redis.eval(CLAIM_CYCLE, 2, ...keys, this.owner, String(RUNNING_TTL_MS), String(cycleTtl(intervalMs)))) as ClaimResult;
  }

  /** Marks the cycle skipped unless another replica already claimed it; true when it is skipped. */
  async skip(cycle: number, intervalMs: number): Promise<boolean> {
    return (await this.redis.eval(SKIP_CYCLE, 1, this.cycleKey(cycle), String(cycleTtl(intervalMs)))) === 1;
  }

  private cycleKey(cycle: number): string {
    return redisKeys.sweepCycle(this.prefix, cycle);
  }

  /**
   * Keeps the in-progress mark alive while the sweep pages, every RUNNING_RENEW_MS. If the
   * sweeping replica dies the mark lapses within RUNNING_TTL_MS, whatever the cycle's length (it
   * used to live a whole cycle, at least 30 s, and could cost the next cycles).
   */
  async extend(): Promise<boolean> {
    const ok = await this.redis.eval(EXTEND_IF_OWNER, 1, this.runningKey(), this.owner, String(RUNNING_TTL_MS));
    return ok === 1;
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE_IF_OWNER, 1, this.runningKey(), this.owner);
  }

  private runningKey(): string {
    return redisKeys.sweepRunning(this.prefix);
  }
}

/** Another replica can sweep at most this long after the sweeper died, plus its next tick (≤ 1 s): ≤ 10 s with the sweep. */
export const RUNNING_TTL_MS = 8_000;
/** Three renewals per TTL: one lost to a slow Redis round trip does not drop the mark. */
export const RUNNING_RENEW_MS = 2_500;

const cycleTtl = (intervalMs: number) => Math.max(intervalMs * 3, 60_000);
