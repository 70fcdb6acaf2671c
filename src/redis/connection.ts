import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import { parseHostPort } from '../config/reader.js';
import type { RedisConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { RedisStartError } from './start-check.js';

/** Reconnect delays: doubling from 400 ms, capped, forever (Redis coming back ends every outage). */
const reconnectDelayMs = (times: number, capMs: number) => Math.min(200 * 2 ** Math.min(times, 6), capMs);
/**
 * Under Sentinel each reconnect asks the sentinels for the master, which is cheap and is how a
 * promotion is found: a 1 s cap finds the new master about a second after the vote instead of
 * up to 5 s later.
 */
const SENTINEL_RECONNECT_CAP_MS = 1_000;
const SINGLE_RECONNECT_CAP_MS = 5_000;

/**
 * One ioredis connection for the prober's own keys and for BullMQ (which `duplicate()`s it for
 * its blocking connections, so every copy carries the same Sentinel or TLS settings).
 * `maxRetriesPerRequest: null` is what BullMQ requires so blocked commands wait out an outage or
 * a failover instead of failing; commands issued meanwhile queue and run on the next master.
 */
export function connectRedis(settings: RedisConfig, logger: Logger, name: string): Redis {
  const common: RedisOptions = {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: `inventory-prober:${name}`,
  };
  const redis = settings.sentinels.length > 0 ? new Redis({ ...common, ...sentinelOptions(settings) }) : singleServer(settings, common);
  let down = false;
  redis.on('error', (err: NodeJS.ErrnoException) => {
    if (down) return;
    down = true;
    logger.warn({ component: 'redis', connection: name, code: err.code, err }, 'redis unreachable, retrying');
  });
  redis.on('ready', () => {
    if (down) logger.info({ component: 'redis', connection: name }, 'redis reachable again');
    down = false;
  });
  return redis;
}

function singleServer(settings: RedisConfig, common: RedisOptions): Redis {
  const url = settings.url?.reveal() ?? 'redis://127.0.0.1:6379';
  const tls = url.startsWith('rediss:') ? tlsOptions(settings) : undefined;
  return new Redis(url, { ...common, ...(tls ? { tls } : {}), retryStrategy: (times) => reconnectDelayMs(times, SINGLE_RECONNECT_CAP_MS) });
}

function sentinelOptions(settings: RedisConfig): RedisOptions {
  return {
    sentinels: settings.sentinels.map((s) => parseHostPort(s) ?? { host: s, port: 26379 }),
    name: settings.sentinel_name,
    sentinelPassword: settings.sentinel_password?.reveal(),
    password: settings.password?.reveal(),
    // Subscribes to the sentinels' +switch-master, so a master that is demoted while still
    // alive (a partition, a manual failover) is left at once rather than written to until it
    // answers READONLY.
    failoverDetector: true,
    retryStrategy: (times) => reconnectDelayMs(times, SENTINEL_RECONNECT_CAP_MS),
    sentinelRetryStrategy: (times) => reconnectDelayMs(times, SENTINEL_RECONNECT_CAP_MS),
    // A write that reached a demoted master was refused, not applied: reconnect (to the master
    // the sentinels name now) and send it again. READONLY is the reply's error code, its first word.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
  };
}

/** The CA, client certificate and key from their files; an unreadable one names its setting. */
function tlsOptions(settings: RedisConfig): ConnectionOptions {
  const files = { ca: 'tls_ca_file', cert: 'tls_cert_file', key: 'tls_key_file' } as const;
  const options: ConnectionOptions = {};
  for (const [option, key] of Object.entries(files) as [keyof typeof files, (typeof files)[keyof typeof files]][]) {
    const path = settings[key];
    if (path === undefined) continue;
    try {
      options[option] = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new RedisStartError('redis-tls-file', `redis.${key}`, `cannot read redis.${key} "${path}" (${code}): it must be a PEM file the prober can read`, err);
    }
  }
  return options;
}
