import { describe, expect, it } from 'vitest';
import { loadConfig, renderEffectiveConfig, type Config, type ConfigProblem, type ConfigResult } from '../../src/config/index.js';

const BASE_ENV = { INVENTORY_URL: 'http://127.0.0.1:8080/api/v1' };

/** The config file `yaml` (and secret files) served from memory. */
function load(yaml: string, env: NodeJS.ProcessEnv = {}, files: Record<string, string> = {}): Promise<ConfigResult> {
  const all: Record<string, string> = { ...files, '/etc/prober.yaml': yaml };
  const readFile = async (path: string) => {
    if (path in all) return all[path] as string;
    throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  };
  return loadConfig({ file: '/etc/prober.yaml', env: { ...BASE_ENV, ...env }, readFile });
}

function configOf(result: ConfigResult): Config {
  if (!result.ok) throw new Error(`expected a valid config, got ${JSON.stringify(result.problems)}`);
  return result.config;
}

function problemsOf(result: ConfigResult): ConfigProblem[] {
  if (result.ok) throw new Error('expected problems, got a valid config');
  return result.problems;
}

const SENTINEL_YAML = 'redis:\n  sentinels: ["10.0.0.1:26379", "sentinel-b:26380"]\n  sentinel_name: prober\n';

describe('redis: one server or a Sentinel group', () => {
  it('takes sentinels and the group name from the file, in place of the default URL', async () => {
    const config = configOf(await load(SENTINEL_YAML));
    expect(config.redis.url).toBeUndefined();
    expect(config.redis.sentinels).toEqual(['10.0.0.1:26379', 'sentinel-b:26380']);
    expect(config.redis.sentinel_name).toBe('prober');
  });

  it('takes them from REDIS_SENTINELS=h1:p1,h2:p2 and REDIS_SENTINEL_NAME (containers)', async () => {
    const config = configOf(await load('', { REDIS_SENTINELS: '10.0.0.1:26379, [fd00::2]:26379', REDIS_SENTINEL_NAME: 'prober' }));
    expect(config.redis.sentinels).toEqual(['10.0.0.1:26379', '[fd00::2]:26379']);
    expect(config.redis.url).toBeUndefined();
  });

  it('refuses a URL beside sentinels, from the file or the environment, naming both settings', async () => {
    for (const result of [
      await load(`${SENTINEL_YAML}  url: redis://cache:6379\n`),
      await load(SENTINEL_YAML, { REDIS_URL: 'redis://cache:6379' }),
      await load('', { REDIS_URL: 'redis://cache:6379', REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'prober' }),
    ]) {
      expect(problemsOf(result)).toContainEqual({ key: 'redis', message: expect.stringMatching(/exactly one of redis\.url \(REDIS_URL\) and redis\.sentinels \(REDIS_SENTINELS\)/) });
    }
  });

  it('lists every Sentinel mistake at once: a bad address, no group name', async () => {
    const problems = problemsOf(await load('redis:\n  sentinels: ["10.0.0.1", "b:99999"]\n'));
    expect(problems.map((p) => p.key)).toEqual(expect.arrayContaining(['redis.sentinels']));
    const named = problemsOf(await load('redis:\n  sentinels: ["10.0.0.1:26379"]\n'));
    expect(named).toContainEqual({ key: 'redis.sentinel_name', message: expect.stringContaining('non-empty string') });
  });

  it('reads the sentinel and master passwords from files or env, never inline, and never prints them', async () => {
    const files = { '/run/secrets/sentinel': 'SENTPASS-q8\n', '/run/secrets/master': 'MASTERPASS-w3\n' };
    const yaml = `${SENTINEL_YAML}  sentinel_password_file: /run/secrets/sentinel\n`;
    const config = configOf(await load(yaml, { REDIS_PASSWORD_FILE: '/run/secrets/master' }, files));
    expect(config.redis.sentinel_password?.reveal()).toBe('SENTPASS-q8');
    expect(config.redis.password?.reveal()).toBe('MASTERPASS-w3');
    const printed = renderEffectiveConfig(config);
    for (const secret of ['SENTPASS-q8', 'MASTERPASS-w3']) expect(printed).not.toContain(secret);
    expect(problemsOf(await load(`${SENTINEL_YAML}  sentinel_password: inline\n`)).map((p) => p.key)).toContain('redis.sentinel_password');
  });

  it('refuses Sentinel-only settings without sentinels', async () => {
    const problems = problemsOf(await load('redis:\n  sentinel_name: prober\n', { REDIS_PASSWORD: 'pw-only-for-sentinel' }));
    expect(problems.map((p) => p.key).sort()).toEqual(['redis.password', 'redis.sentinel_name']);
  });
});

describe('redis: TLS files', () => {
  it('go with a rediss:// URL', async () => {
    const yaml = 'redis:\n  url: rediss://cache:6380\n  tls_ca_file: /etc/ssl/redis-ca.pem\n  tls_cert_file: /etc/ssl/c.pem\n  tls_key_file: /etc/ssl/k.pem\n';
    expect(configOf(await load(yaml)).redis.tls_ca_file).toBe('/etc/ssl/redis-ca.pem');
  });

  it('are refused with a plain redis:// URL, with sentinels, and as a certificate without its key', async () => {
    expect(problemsOf(await load('redis:\n  tls_ca_file: /ca.pem\n'))).toContainEqual({ key: 'redis.tls_ca_file', message: expect.stringContaining('needs a rediss:// URL') });
    expect(problemsOf(await load(`${SENTINEL_YAML}  tls_ca_file: /ca.pem\n`))).toContainEqual({ key: 'redis.tls_ca_file', message: expect.stringContaining('not with redis.sentinels') });
    expect(problemsOf(await load('redis:\n  url: rediss://cache:6380\n  tls_cert_file: /c.pem\n')).map((p) => p.key)).toEqual(['redis.tls_cert_file']);
  });
});
