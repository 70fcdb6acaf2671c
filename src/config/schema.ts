import { Cron } from 'croner';
import { DEFAULTS } from './defaults.js';
import { Reader, type ConfigProblem } from './reader.js';
import { readRoutingRules, readWorkerGroups } from './routing.js';
import type { Config, Role, SnmpVersion } from './types.js';

export type { ConfigProblem } from './reader.js';
export { isMapping } from './reader.js';

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

export interface ValidateOptions {
  /** False for commands that never talk to the inventory (`probe`): inventory.url may be unset. */
  requireInventory?: boolean;
  /** The role to run: a `worker` with worker.report false never talks to the inventory either. */
  role?: Role;
}

const UP_WHEN = ['any', 'all', 'icmp', 'snmp'] as const;
const SNMP_VERSIONS = ['1', '2c', '3'] as const;
const AUTH_PROTOCOLS = ['md5', 'sha', 'sha224', 'sha256', 'sha384', 'sha512'] as const;
const PRIV_PROTOCOLS = ['des', 'aes', 'aes256b', 'aes256r'] as const;
const PER_DEVICE = ['off', 'basic', 'full'] as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const ICMP_ENGINES = ['native', 'fping', 'ping'] as const;
const SNMP_ENGINES = ['session-per-probe', 'shared'] as const;
/** RFC 3414 §11.2 asks for USM passphrases of at least 8 characters; Net-SNMP agents refuse shorter ones. */
const MIN_V3_KEY_LENGTH = 8;

/**
 * Checks the merged raw configuration (defaults ← file ← env, secrets already resolved) and
 * returns either the typed Config or every problem found, so one run of `check-config` lists
 * them all instead of making the operator fix them one restart at a time.
 */
export function validateConfig(raw: unknown, options: ValidateOptions = {}): ConfigResult {
  const r = new Reader(raw);
  r.checkKeys(DEFAULTS);
  const draft = readDraft(r, options);
  checkProbeCombination(r, draft.probes);
  checkSnmpV3(r, draft.probes.snmp);
  checkTimeBudget(r, draft);
  const { backoff_ms: backoffMs, max_backoff_ms: maxBackoffMs } = draft.reporter;
  if (backoffMs !== undefined && maxBackoffMs !== undefined && maxBackoffMs < backoffMs) {
    r.problem('reporter.max_backoff_ms', `must be ≥ reporter.backoff_ms (${backoffMs})`);
  }
  return r.problems.length > 0 ? { ok: false, problems: r.problems } : { ok: true, config: draft as Config };
}

/** Every key read once; an invalid value is reported and left undefined for the checks below. */
function readDraft(r: Reader, options: ValidateOptions) {
  return {
    inventory: {
      url: !needsInventory(r, options) && r.get('inventory.url') === undefined ? '' : r.httpUrl('inventory.url'),
      token: r.secret('inventory.token'),
      token_file: r.optionalString('inventory.token_file'),
      page_size: r.int('inventory.page_size', 1, 100),
      filters: { organization: r.idList('inventory.filters.organization'), type: r.idList('inventory.filters.type') },
      timeout_ms: r.int('inventory.timeout_ms', 1),
      retries: r.int('inventory.retries', 0, 100),
      page_concurrency: r.int('inventory.page_concurrency', 1, 1000),
      detail_concurrency: r.int('inventory.detail_concurrency', 1, 1000),
    },
    redis: readRedis(r),
    schedule: { ...readSchedule(r), spread: r.number('schedule.spread', 0, 1) },
    probes: {
      up_when: r.oneOf('probes.up_when', UP_WHEN),
      icmp: {
        enabled: r.bool('probes.icmp.enabled'),
        count: r.int('probes.icmp.count', 1, 10),
        timeout_ms: r.int('probes.icmp.timeout_ms', 1),
        engine: r.oneOf('probes.icmp.engine', ICMP_ENGINES),
      },
      snmp: {
        enabled: r.bool('probes.snmp.enabled'),
        engine: r.oneOf('probes.snmp.engine', SNMP_ENGINES),
        version: readSnmpVersion(r),
        port: r.int('probes.snmp.port', 1, 65535),
        timeout_ms: r.int('probes.snmp.timeout_ms', 1),
        retries: r.int('probes.snmp.retries', 0, 10),
        community: r.secret('probes.snmp.community'),
        community_file: r.optionalString('probes.snmp.community_file'),
        v3: {
          user: r.optionalString('probes.snmp.v3.user') ?? '',
          auth_protocol: r.oneOf('probes.snmp.v3.auth_protocol', AUTH_PROTOCOLS),
          auth_key: r.secret('probes.snmp.v3.auth_key'),
          auth_key_file: r.optionalString('probes.snmp.v3.auth_key_file'),
          priv_protocol: r.oneOf('probes.snmp.v3.priv_protocol', PRIV_PROTOCOLS),
          priv_key: r.secret('probes.snmp.v3.priv_key'),
          priv_key_file: r.optionalString('probes.snmp.v3.priv_key_file'),
        },
      },
    },
    routing: { rules: readRoutingRules(r) },
    status: {
      down_after: r.int('status.down_after', 1),
      up_after: r.int('status.up_after', 1),
      mass_outage: {
        enabled: r.bool('status.mass_outage.enabled'),
        share: r.number('status.mass_outage.share', 0, 1),
        min_devices: r.int('status.mass_outage.min_devices', 1),
      },
    },
    worker: {
      concurrency: r.int('worker.concurrency', 1, 10_000),
      batch_size: r.int('worker.batch_size', 1, 1_000),
      groups: readWorkerGroups(r),
      report: r.bool('worker.report'),
    },
    reporter: {
      patches_per_second: r.positiveNumber('reporter.patches_per_second'),
      attempts: r.int('reporter.attempts', 1),
      backoff_ms: r.int('reporter.backoff_ms', 1),
      max_backoff_ms: r.int('reporter.max_backoff_ms', 1),
    },
    // Port 0 lets the OS pick a free port (tests, several replicas on one host); the bound port
    // is logged. There is no "off": /healthz and /readyz live on the same listener.
    metrics: {
      port: r.int('metrics.port', 0, 65535),
      host: r.string('metrics.host'),
      per_device: r.oneOf('metrics.per_device', PER_DEVICE),
    },
    log: { level: r.oneOf('log.level', LOG_LEVELS) },
    shutdown: { grace_seconds: r.int('shutdown.grace_seconds', 1, 3600) },
  };
}

type Draft = ReturnType<typeof readDraft>;

/**
 * One server or one Sentinel group, never both: a URL left beside sentinels would leave the
 * operator guessing which one the daemon uses.
 */
function readRedis(r: Reader) {
  const sentinels = r.hostPortList('redis.sentinels') ?? [];
  const viaSentinel = sentinels.length > 0;
  const urlSet = r.get('redis.url') !== undefined;
  if (viaSentinel && urlSet) r.problem('redis', 'set exactly one of redis.url (REDIS_URL) and redis.sentinels (REDIS_SENTINELS), not both');
  if (!viaSentinel && !urlSet) r.problem('redis', 'set one of redis.url (REDIS_URL) or redis.sentinels (REDIS_SENTINELS)');
  const url = urlSet ? r.redisUrl('redis.url') : undefined;
  const redis = {
    url,
    sentinels,
    sentinel_name: viaSentinel ? r.string('redis.sentinel_name') : r.optionalString('redis.sentinel_name'),
    sentinel_password: r.secret('redis.sentinel_password'),
    sentinel_password_file: r.optionalString('redis.sentinel_password_file'),
    password: r.secret('redis.password'),
    password_file: r.optionalString('redis.password_file'),
    tls_ca_file: r.optionalString('redis.tls_ca_file'),
    tls_cert_file: r.optionalString('redis.tls_cert_file'),
    tls_key_file: r.optionalString('redis.tls_key_file'),
    prefix: r.string('redis.prefix'),
  };
  if (!viaSentinel) {
    for (const key of ['sentinel_name', 'sentinel_password'] as const) {
      if (redis[key] !== undefined) r.problem(`redis.${key}`, 'only applies with redis.sentinels');
    }
    if (redis.password) r.problem('redis.password', 'only applies with redis.sentinels: put a single server\'s password in redis.url (redis://:PASSWORD@host:6379)');
  }
  checkRedisTls(r, redis, viaSentinel);
  return redis;
}

function checkRedisTls(r: Reader, redis: ReturnType<typeof readRedis>, viaSentinel: boolean): void {
  const files = (['tls_ca_file', 'tls_cert_file', 'tls_key_file'] as const).filter((key) => redis[key] !== undefined);
  if (files.length === 0) return;
  if (viaSentinel) {
    r.problem(`redis.${files[0]}`, 'TLS is supported with redis.url (rediss://) only, not with redis.sentinels');
  } else if (redis.url && !redis.url.reveal().startsWith('rediss:')) {
    r.problem(`redis.${files[0]}`, 'needs a rediss:// URL in redis.url (TLS); redis:// is plain TCP');
  }
  if ((redis.tls_cert_file === undefined) !== (redis.tls_key_file === undefined)) {
    r.problem('redis.tls_cert_file', 'set both redis.tls_cert_file and redis.tls_key_file (a client certificate and its key), or neither');
  }
}

/** A site worker (`--role worker`, worker.report: false) reaches Redis and its devices, nothing else. */
function needsInventory(r: Reader, options: ValidateOptions): boolean {
  if (options.requireInventory === false) return false;
  return !(options.role === 'worker' && r.get('worker.report') === false);
}

/** Exactly one cadence: a fixed interval, or a cron pattern whose longest run gap stands in for it. */
function readSchedule(r: Reader): { interval_seconds: number | undefined; cron: string | undefined } {
  const interval = r.get('schedule.interval_seconds');
  const cron = r.get('schedule.cron');
  if (cron === undefined) {
    if (interval === undefined) r.problem('schedule', 'set one of schedule.interval_seconds or schedule.cron');
    return { interval_seconds: interval === undefined ? undefined : r.int('schedule.interval_seconds', 1), cron: undefined };
  }
  if (interval !== undefined) {
    r.problem('schedule', 'set exactly one of schedule.interval_seconds and schedule.cron, not both');
    return { interval_seconds: undefined, cron: undefined };
  }
  const gaps = typeof cron === 'string' ? cronGapsSeconds(cron) : 'must be a string';
  if (typeof gaps === 'string' || typeof cron !== 'string') {
    r.problem('schedule.cron', `must be a valid cron pattern (5 or 6 fields, e.g. "*/30 * * * * *"): ${gaps}`);
    return { interval_seconds: undefined, cron: undefined };
  }
  // The longest gap keeps readiness from calling a healthy but sparse schedule stale.
  return { interval_seconds: Math.max(...gaps), cron };
}

/** Seconds between the next runs of a cron pattern, or why the pattern is no good. */
function cronGapsSeconds(pattern: string): number[] | string {
  try {
    const runs = new Cron(pattern, { paused: true }).nextRuns(20);
    const gaps = runs.slice(1).map((run, i) => Math.max(1, Math.round((run.getTime() - (runs[i] as Date).getTime()) / 1000)));
    return gaps.length > 0 ? gaps : 'it never runs more than once';
  } catch (err) {
    return (err as Error).message;
  }
}

/** YAML reads `version: 1` as a number; 1 and 3 are unambiguous, but a bare 2 could mean 2c or nothing. */
function readSnmpVersion(r: Reader): SnmpVersion | undefined {
  const version = r.get('probes.snmp.version');
  if (version === 1 || version === 3) return String(version) as SnmpVersion;
  if (version === 2 || version === '2') {
    r.problem('probes.snmp.version', 'is ambiguous: write "2c" for SNMPv2c (must be one of "1", "2c", "3")');
    return undefined;
  }
  return r.oneOf('probes.snmp.version', SNMP_VERSIONS);
}

function checkProbeCombination(r: Reader, probes: Draft['probes']): void {
  const { icmp, snmp, up_when: upWhen } = probes;
  if (icmp.enabled === false && snmp.enabled === false) {
    r.problem('probes', 'at least one of probes.icmp.enabled and probes.snmp.enabled must be true');
  }
  if (upWhen === 'icmp' && icmp.enabled === false) r.problem('probes.up_when', '"icmp" needs probes.icmp.enabled: true');
  if (upWhen === 'snmp' && snmp.enabled === false) r.problem('probes.up_when', '"snmp" needs probes.snmp.enabled: true');
}

function checkSnmpV3(r: Reader, snmp: Draft['probes']['snmp']): void {
  if (snmp.enabled === false || snmp.version !== '3') return;
  if (!snmp.v3.user) r.problem('probes.snmp.v3.user', 'is required when probes.snmp.version is "3"');
  const keys = [
    ['auth_key', snmp.v3.auth_key, 'SNMP_V3_AUTH_KEY'],
    ['priv_key', snmp.v3.priv_key, 'SNMP_V3_PRIV_KEY'],
  ] as const;
  for (const [name, key, env] of keys) {
    if (!key) {
      r.problem(`probes.snmp.v3.${name}`, `is required when probes.snmp.version is "3": set probes.snmp.v3.${name}_file or ${env}_FILE (a file holding the key), or ${env}`);
    } else if (key.reveal().length < MIN_V3_KEY_LENGTH) {
      r.problem(`probes.snmp.v3.${name}`, `must be at least ${MIN_V3_KEY_LENGTH} characters (SNMPv3 USM minimum)`);
    }
  }
}

/** Probes run side by side, so a check lasts as long as its slowest enabled probe's worst case. */
function checkTimeBudget(r: Reader, draft: Draft): void {
  const { icmp, snmp } = draft.probes;
  const icmpMs = icmp.enabled && icmp.count && icmp.timeout_ms ? icmp.count * icmp.timeout_ms : 0;
  const snmpMs = snmp.enabled && snmp.timeout_ms && snmp.retries !== undefined ? snmp.timeout_ms * (snmp.retries + 1) : 0;
  const budgetMs = Math.max(icmpMs, snmpMs);
  const { cron, interval_seconds: interval } = draft.schedule;
  // Under cron the budget must fit the shortest gap, not the longest one stored as the interval.
  const cycleSeconds = cron ? Math.min(...(cronGapsSeconds(cron) as number[])) : interval;
  if (cycleSeconds === undefined || budgetMs <= cycleSeconds * 1000) return;
  const parts = [
    icmpMs ? `icmp ${icmp.count} × ${icmp.timeout_ms} ms = ${icmpMs} ms` : undefined,
    snmpMs ? `snmp ${snmp.timeout_ms} ms × (${snmp.retries} retries + 1) = ${snmpMs} ms` : undefined,
  ].filter(Boolean);
  const where = cron ? 'schedule.cron' : 'schedule.interval_seconds';
  r.problem(where, `must leave room for one check (${parts.join(', ')}); the cycle is ${cycleSeconds} s: lengthen it or shorten the probe timeouts`);
}
