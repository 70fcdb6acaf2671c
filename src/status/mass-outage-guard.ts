import type { Redis } from 'ioredis';
import { redisKeys } from '../redis/keys.js';
import type { ProbeOutcome } from '../probes/types.js';

export interface MassOutageSettings {
  enabled: boolean;
  /** Share of checked devices (0–1) failing within one interval above which Down flips are held. */
  share: number;
  /** …and at least this many failing devices, so a small fleet's two failures don't trip it. */
  minDevices: number;
  intervalMs: number;
}

const BUCKETS = 10;

/**
 * When a large share of the fleet fails at once, the likeliest cause is the prober's own
 * network, not half the devices dying together. Every worker counts its check verdicts into
 * cluster-wide time buckets in Redis (flushed once a second, not per check); a Down flip asks
 * the guard, which looks at the last interval's failure share across all workers.
 */
export class MassOutageGuard {
  private local = { checks: 0, down: 0, bucket: 0 };
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly settings: MassOutageSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A tenth of the interval, so the window is about one interval long even for 1 s cycles: a
   * coarser floor would stretch it over many cycles and bury a sudden outage under the good
   * checks before it. Counts are flushed once per bucket change, so small buckets cost little.
   */
  private get bucketMs(): number {
    return Math.max(100, Math.floor(this.settings.intervalMs / BUCKETS));
  }

  private key(kind: 'checks' | 'down' | 'held', bucket: number): string {
    return redisKeys.guardBucket(this.prefix, kind, bucket);
  }

  start(): void {
    this.timer = setInterval(() => void this.flush().catch(() => {}), 1_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush().catch(() => {});
  }

  /** Counts an `up`/`down` verdict; `error` is the prober's own trouble and is left out. */
  count(outcome: ProbeOutcome): void {
    if (outcome === 'error') return;
    const bucket = Math.floor(this.now() / this.bucketMs);
    if (bucket !== this.local.bucket) void this.flush().catch(() => {});
    this.local.bucket = bucket;
    this.local.checks++;
    if (outcome === 'down') this.local.down++;
  }

  async flush(): Promise<void> {
    const { checks, down, bucket } = this.local;
    if (checks === 0) return;
    this.local = { checks: 0, down: 0, bucket };
    const ttl = Math.ceil((this.settings.intervalMs * 3) / 1000);
    const m = this.redis.multi().incrby(this.key('checks', bucket), checks).expire(this.key('checks', bucket), ttl);
    if (down > 0) m.incrby(this.key('down', bucket), down).expire(this.key('down', bucket), ttl);
    await m.exec();
  }

  /** True when a Down flip must be held; records the hold so every replica can report it. */
  async shouldHold(): Promise<boolean> {
    if (!this.settings.enabled) return false;
    await this.flush();
    const { checks, down } = await this.window();
    const tripped = down >= this.settings.minDevices && checks > 0 && down / checks > this.settings.share;
    if (tripped) {
      const key = this.key('held', Math.floor(this.now() / this.bucketMs));
      await this.redis.multi().incr(key).expire(key, Math.ceil((this.settings.intervalMs * 3) / 1000)).exec();
    }
    return tripped;
  }

  /** Down flips held within the last interval, cluster-wide. */
  async heldRecently(): Promise<number> {
    return this.sum('held');
  }

  private async window(): Promise<{ checks: number; down: number }> {
    const [checks, down] = await Promise.all([this.sum('checks'), this.sum('down')]);
    return { checks, down };
  }

  private async sum(kind: 'checks' | 'down' | 'held'): Promise<number> {
    const current = Math.floor(this.now() / this.bucketMs);
    const keys = Array.from({ length: BUCKETS + 1 }, (_, i) => this.key(kind, current - i));
    const values = await this.redis.mget(...keys);
    return values.reduce((sum, v) => sum + (Number(v) || 0), 0);
  }
}
