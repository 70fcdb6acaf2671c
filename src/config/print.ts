import { stringify } from 'yaml';
import { isSecret, type Secret } from './secret.js';
import type { Config } from './types.js';

const REDACTED = '<secret>';

/**
 * The effective configuration as YAML for `check-config`: every key, unset ones as `null`,
 * every secret as `<secret>`. The Redis URL keeps its scheme, user, host, port and db visible
 * (what one needs to debug a connection) and hides only the password and query values.
 */
export function renderEffectiveConfig(config: Config): string {
  const plain = toPlain({ ...config, redis: { ...config.redis, url: config.redis.url && redactRedisUrl(config.redis.url) } });
  return `# effective configuration of inventory-prober; secrets are shown as ${REDACTED}\n${stringify(plain)}`;
}

/** `redis://:hunter2@cache:6379/2` → `redis://:<secret>@cache:6379/2`. */
export function redactRedisUrl(url: Secret): string {
  let parsed: URL;
  try {
    parsed = new URL(url.reveal());
  } catch {
    return REDACTED;
  }
  const credentials = parsed.password ? `${parsed.username}:${REDACTED}@` : parsed.username ? `${parsed.username}@` : '';
  // Query options can carry a password too (`?password=`); their names are useful, values are not.
  const query = [...parsed.searchParams.keys()].map((name) => `${name}=${REDACTED}`).join('&');
  return `${parsed.protocol}//${credentials}${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}${query ? `?${query}` : ''}`;
}

function toPlain(value: unknown): unknown {
  if (value === undefined) return null;
  if (isSecret(value)) return REDACTED;
  if (Array.isArray(value)) return value.map(toPlain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, toPlain(inner)]));
  }
  return value;
}
