import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../log/logger.js';
import type { Secret } from '../config/secret.js';

/**
 * One ioredis connection for the prober's own keys and for BullMQ. `maxRetriesPerRequest: null`
 * is what BullMQ requires so blocked commands wait out a Redis restart instead of failing; the
 * retry strategy keeps reconnecting forever with a capped delay, because Redis coming back is
 * the normal end of a Redis outage.
 */
export function connectRedis(url: Secret, logger: Logger, name: string): Redis {
  const options: RedisOptions = {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: `inventory-prober:${name}`,
    retryStrategy: (times) => Math.min(200 * 2 ** Math.min(times, 6), 5_000),
  };
  const redis = new Redis(url.reveal(), options);
  let down = false;
  redis.on('error', (err: NodeJS.ErrnoException) => {
    if (down) return;
    down = true;
    logger.warn({ component: 'redis', connection: name, code: err.code, err: err.message }, 'redis unreachable, retrying');
  });
  redis.on('ready', () => {
    if (down) logger.info({ component: 'redis', connection: name }, 'redis reachable again');
    down = false;
  });
  return redis;
}
