import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * A Lua script sent by its SHA1 (EVALSHA), its body only when Redis does not have it yet
 * (NOSCRIPT: first use, a restarted or failed-over Redis, SCRIPT FLUSH). A sweep runs its
 * scripts thousands of times; the body on every call is bytes to write and a SHA1 for Redis
 * to compute, each time.
 */
export class LuaScript {
  readonly sha: string;

  constructor(readonly body: string) {
    this.sha = createHash('sha1').update(body).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return redis.eval(this.body, keys.length, ...keys, ...args);
    }
  }
}

/** Redis names the error in the reply's first word; there is no other field to read. */
function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}
