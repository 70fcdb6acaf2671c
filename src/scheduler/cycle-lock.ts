import type { Redis } from 'ioredis';

const RELEASE_IF_OWNER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
const EXTEND_IF_OWNER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

// One atomic step: a cycle another replica already claimed is "taken" even while its sweep still
// runs; an unclaimed cycle meeting a sweep in progress is "busy", and is marked skipped for the
// whole cluster, so a replica ticking a moment later, after that sweep ended, doesn't sweep it late.
const CLAIM = `
local decided = redis.call('GET', KEYS[2])
if decided == 'skipped' then return 'busy' end
if decided then return 'taken' end
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  redis.call('SET', KEYS[2], 'skipped', 'PX', ARGV[3])
  return 'busy'
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 'claimed'
`;
// The same decision for a replica that knows its own sweep still runs: skipped unless claimed.
const SKIP = `
redis.call('SET', KEYS[1], 'skipped', 'PX', ARGV[1], 'NX')
if redis.call('GET', KEYS[1]) == 'skipped' then return 1 end
return 0
`;

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
    return (await this.redis.eval(CLAIM, 2, ...keys, this.owner, String(RUNNING_TTL_MS), String(cycleTtl(intervalMs)))) as ClaimResult;
  }

  /** Marks the cycle skipped unless another replica already claimed it; true when it is skipped. */
  async skip(cycle: number, intervalMs: number): Promise<boolean> {
    return (await this.redis.eval(SKIP, 1, this.cycleKey(cycle), String(cycleTtl(intervalMs)))) === 1;
  }

  private cycleKey(cycle: number): string {
    return `${this.prefix}:sweep:cycle:${cycle}`;
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
    return `${this.prefix}:sweep:running`;
  }
}

/** Another replica can sweep at most this long after the sweeper died (plus its next tick, 1 s). */
export const RUNNING_TTL_MS = 9_000;
/** Three renewals per TTL: one lost to a slow Redis round trip does not drop the mark. */
export const RUNNING_RENEW_MS = 3_000;

const cycleTtl = (intervalMs: number) => Math.max(intervalMs * 3, 60_000);
