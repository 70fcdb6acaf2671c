import { Secret } from '../../src/config/secret.js';
import type { RedisConfig } from '../../src/config/types.js';

export { freePort, startRedis, type ThrowAwayRedis } from '../../src/demo/redis-server.js';

/** The `redis` config section for one server at `url`, every other setting unset. */
export function singleRedis(url: string, prefix = 'ip'): RedisConfig {
  const unset = { sentinel_name: undefined, sentinel_password: undefined, sentinel_password_file: undefined, password: undefined, password_file: undefined };
  return { url: new Secret(url), sentinels: [], ...unset, tls_ca_file: undefined, tls_cert_file: undefined, tls_key_file: undefined, prefix };
}
