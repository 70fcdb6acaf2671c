import type { Redis } from 'ioredis';
import { ProberError } from '../errors.js';
import type { Logger } from '../log/logger.js';

export type RedisStartErrorKind = 'redis-tls-file' | 'redis-tls-untrusted' | 'redis-tls-hostname' | 'redis-cluster';

/**
 * A Redis the daemon must not run against, found at start: retrying cannot help, the operator
 * must change `setting` (or the server). Exits like a configuration error.
 */
export class RedisStartError extends ProberError {
  readonly retryable = false;
  readonly exitCode = 2;

  constructor(
    readonly kind: RedisStartErrorKind,
    readonly setting: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause });
  }
}

/** One log line for every way start-up refuses Redis, with what to change. */
export function logRedisRefused(logger: Logger, err: RedisStartError): void {
  logger.fatal({ component: 'redis', kind: err.kind, setting: err.setting, err }, 'redis refused at start');
}

/** Node's certificate verification failures (tls.connect): the server is not who the CA vouches for. */
const UNTRUSTED_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
]);

/** Wraps a connection error that no retry can fix; undefined for the ones an outage explains. */
export function tlsRefusal(err: NodeJS.ErrnoException): RedisStartError | undefined {
  if (err.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new RedisStartError('redis-tls-hostname', 'redis.url', `the Redis server's TLS certificate does not name the host in redis.url (${err.message}): connect by a name the certificate lists`, err);
  }
  if (err.code && UNTRUSTED_CERT_CODES.has(err.code)) {
    return new RedisStartError('redis-tls-untrusted', 'redis.tls_ca_file', `the Redis server's TLS certificate is not trusted (${err.code}): set redis.tls_ca_file to the CA that signed it`, err);
  }
  return undefined;
}

/** Reads `field:value` lines of an INFO reply. */
const infoField = (info: string, field: string) => new RegExp(`^${field}:(.*?)\\r?$`, 'm').exec(info)?.[1];

/**
 * What is checked once the first connection is up: a Redis Cluster node is refused (our Lua
 * scripts and BullMQ's touch several keys that Cluster would spread over slots), and an evicting
 * memory policy is warned about (it silently drops queue entries and hysteresis state).
 */
export async function inspectServer(redis: Redis, logger: Logger): Promise<void> {
  const [cluster, memory] = await Promise.all([redis.info('cluster'), redis.info('memory')]);
  if (infoField(cluster, 'cluster_enabled') === '1') {
    throw new RedisStartError('redis-cluster', 'redis.url', 'Redis Cluster is not supported: point redis.url at a single server or use redis.sentinels (docs/redis.md says why)');
  }
  const policy = infoField(memory, 'maxmemory_policy');
  if (policy !== undefined && policy !== 'noeviction') {
    logger.warn(
      { component: 'redis', maxmemoryPolicy: policy, hint: 'set maxmemory-policy noeviction on the Redis server' },
      'redis may evict keys: queued probes, PATCHes and hysteresis state can vanish under memory pressure',
    );
  }
}

export type FirstContact = 'checked' | 'unreachable';

/**
 * Settles at the first connection event: `checked` once the server passed inspectServer,
 * `unreachable` when Redis is merely not there yet (an outage, not a misconfiguration), and
 * rejects with a RedisStartError. After settling it keeps watching until the first good
 * connection and hands a later refusal to `onLateRefusal`.
 */
export function checkRedisAtStart(redis: Redis, logger: Logger, onLateRefusal: (err: RedisStartError) => void): Promise<FirstContact> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (outcome: FirstContact) => {
      if (!settled) resolve(outcome);
      settled = true;
    };
    const refuse = (err: RedisStartError) => {
      redis.off('error', onError);
      redis.off('ready', onReady);
      if (settled) onLateRefusal(err);
      else reject(err);
      settled = true;
    };
    const onError = (err: NodeJS.ErrnoException) => {
      const refusal = tlsRefusal(err);
      if (refusal) refuse(refusal);
      else settle('unreachable');
    };
    const onReady = () => {
      redis.off('error', onError);
      inspectServer(redis, logger).then(
        () => settle('checked'),
        (err: unknown) => {
          if (err instanceof RedisStartError) return refuse(err);
          // INFO lost to a dropped connection says nothing about the server: the next start checks again.
          logger.warn({ component: 'redis', err }, 'could not inspect the redis server at start');
          settle('checked');
        },
      );
    };
    redis.on('error', onError);
    redis.once('ready', onReady);
  });
}

/** How long start-up waits for Redis' first answer before going on without it (it may just be late). */
const FIRST_CONTACT_WAIT_MS = 3_000;

/**
 * A wrong CA or a Redis Cluster stops start-up with the setting to change; a Redis that is merely
 * not up yet does not (the daemon waits for it, not ready). Refused later, when Redis first
 * answers after start-up went on, the process exits with the same error.
 */
export async function refuseUnusableRedis(redis: Redis, logger: Logger, exit: (code: number) => void): Promise<void> {
  const refusedLate = (err: RedisStartError) => {
    redis.disconnect();
    logRedisRefused(logger, err);
    exit(err.exitCode);
  };
  const check = checkRedisAtStart(redis, logger, refusedLate);
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<'waited'>((resolve) => (timer = setTimeout(() => resolve('waited'), FIRST_CONTACT_WAIT_MS)));
  try {
    // Start-up goes on without an answer; the check's verdict, whenever it comes, still counts.
    if ((await Promise.race([check, waited])) === 'waited') check.catch(refusedLate);
  } catch (err) {
    redis.disconnect();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
