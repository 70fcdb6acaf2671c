import type { Secret } from './secret.js';
import type { Config } from './types.js';

/**
 * The configuration as written by people (YAML file, env): the same keys as Config, but every
 * scalar may be missing and secrets are still plain strings. Arrays stay whole values.
 */
export type RawConfig = RawOf<Config>;
type RawOf<T> = { [K in keyof T]: RawValue<T[K]> };
type RawValue<V> = [V] extends [Secret | undefined]
  ? string | undefined
  : V extends readonly unknown[]
    ? V
    : V extends object
      ? RawOf<V>
      : V | undefined;

/**
 * Every key of Config with its production default; `undefined` means "no default" (required,
 * optional, or a secret that must come from the environment or a file). This object is the
 * source of truth: config/default.yaml documents it and a test proves the two agree.
 */
export const DEFAULTS = deepFreeze({
  inventory: {
    url: undefined,
    token: undefined,
    token_file: undefined,
    // The spec caps `limit` at 100; the largest page means the fewest round trips per sweep.
    page_size: 100,
    filters: { organization: [], type: [] },
    timeout_ms: 10_000,
    retries: 4,
    // 100,000 devices are 1,000 pages: at 150 ms a page, 16 in flight read them in ~10 s.
    page_concurrency: 16,
    // A cold start of 100,000 devices needs 100,000 details: at 150 ms each, 100 in flight fetch
    // them in ~2.5 minutes, beside the sweeps, so every device is checked within 5. A steady
    // fleet needs almost none; a 429 or 5xx halves the window.
    detail_concurrency: 100,
  },
  redis: {
    url: 'redis://127.0.0.1:6379',
    sentinels: [],
    sentinel_name: undefined,
    sentinel_password: undefined,
    sentinel_password_file: undefined,
    password: undefined,
    password_file: undefined,
    tls_ca_file: undefined,
    tls_cert_file: undefined,
    tls_key_file: undefined,
    prefix: 'ip',
  },
  schedule: { interval_seconds: 60, cron: undefined, spread: 0.8 },
  probes: {
    up_when: 'any',
    // In-process ICMP sockets and one shared SNMP socket: no process or socket per probe
    // (bench/icmp-engines.ts, bench/snmp-engines.ts; docs/performance.md).
    icmp: { enabled: true, count: 3, timeout_ms: 1_000, engine: 'native' },
    snmp: {
      enabled: true,
      engine: 'shared',
      version: '2c',
      port: 161,
      timeout_ms: 2_000,
      retries: 1,
      community: undefined,
      community_file: undefined,
      v3: {
        user: undefined,
        auth_protocol: 'sha',
        auth_key: undefined,
        auth_key_file: undefined,
        priv_protocol: 'aes',
        priv_key: undefined,
        priv_key_file: undefined,
      },
    },
  },
  // No rule: every device goes to the group `default`, whose queue is the historical `probe` queue.
  routing: { rules: [] },
  // One lost check never flips a device Down; one good check brings it back.
  status: { down_after: 3, up_after: 1, mass_outage: { enabled: true, share: 0.5, min_devices: 10 } },
  worker: { concurrency: 1000, batch_size: 100, groups: ['default'], report: true },
  reporter: { patches_per_second: 10, attempts: 12, backoff_ms: 1_000, max_backoff_ms: 300_000 },
  metrics: { port: 9464, host: '0.0.0.0', per_device: 'basic' },
  log: { level: 'info' },
  // Below Kubernetes' default 30 s terminationGracePeriodSeconds, so our own shutdown finishes first.
  shutdown: { grace_seconds: 20 },
} satisfies RawConfig);

/** Keys whose values are secrets: never echoed in a problem message or printed. */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'inventory.token',
  'redis.url',
  'redis.password',
  'redis.sentinel_password',
  'probes.snmp.community',
  'probes.snmp.v3.auth_key',
  'probes.snmp.v3.priv_key',
]);

/** A shared default must not be changed by one caller under another's feet. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
