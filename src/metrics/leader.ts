import type { Redis } from 'ioredis';
import { redisKeys } from '../redis/keys.js';
import { EXTEND_IF_OWNER, RELEASE_IF_OWNER } from '../redis/scripts.js';

/**
 * A dead leader's key lapses within this; a follower retries every third of it, so another
 * process exports the series at most 4/3 × 7.5 s = 10 s after the leader died (it was 40 s).
 */
export const LEADER_TTL_MS = 7_500;

/**
 * Elects the one process that exports per-device series. Prometheus scrapes every replica; if
 * each exported every device, it would see one series per device per replica. The leader holds
 * a Redis key it renews; if it dies, another process takes over within `ttlMs`.
 */
export class MetricsLeader {
  private leading = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly owner: string,
    private readonly ttlMs = LEADER_TTL_MS,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.ttlMs / 3);
    this.timer.unref();
  }

  async refresh(): Promise<boolean> {
    const key = redisKeys.metricsLeader(this.prefix);
    try {
      const renewed = this.leading && (await this.redis.eval(EXTEND_IF_OWNER, 1, key, this.owner, String(this.ttlMs))) === 1;
      this.leading = renewed || (await this.redis.set(key, this.owner, 'PX', this.ttlMs, 'NX')) === 'OK';
    } catch {
      this.leading = false;
    }
    return this.leading;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (!this.leading) return;
    this.leading = false;
    const key = redisKeys.metricsLeader(this.prefix);
    await this.redis.eval(RELEASE_IF_OWNER, 1, key, this.owner).catch(() => {});
  }
}
