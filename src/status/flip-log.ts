import type { Redis } from 'ioredis';
import { redisKeys } from '../redis/keys.js';

export interface FlipRecord {
  atMs: number;
  deviceId: number;
  device: string;
  organization: string;
  from: string;
  to: string;
  reason: string;
}

const KEEP = 50;

/** The last flips cluster-wide, newest first, for the status page: a capped Redis list. */
export class FlipLog {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private get key(): string {
    return redisKeys.flips(this.prefix);
  }

  async record(flip: FlipRecord): Promise<void> {
    await this.redis.multi().lpush(this.key, JSON.stringify(flip)).ltrim(this.key, 0, KEEP - 1).exec();
  }

  async recent(limit = 20): Promise<FlipRecord[]> {
    const raw = await this.redis.lrange(this.key, 0, limit - 1);
    return raw.flatMap((r) => {
      try {
        return [JSON.parse(r) as FlipRecord];
      } catch {
        return [];
      }
    });
  }
}
