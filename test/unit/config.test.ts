import { mkdtemp, readFile as fsReadFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  ConfigError,
  DEFAULTS,
  loadConfig,
  renderEffectiveConfig,
  Secret,
  type Config,
  type ConfigProblem,
  type ConfigResult,
  type LoadOptions,
} from '../../src/config/index.js';

const URL_ENV = { INVENTORY_URL: 'http://127.0.0.1:8080/api/v1' };

/** Loads `yaml` as the config file from memory; `files` serves any other path (secret files). */
function load(yaml: string | undefined, env: NodeJS.ProcessEnv = URL_ENV, files: Record<string, string> = {}, extra: Partial<LoadOptions> = {}) {
  const all: Record<string, string> = { ...files, ...(yaml === undefined ? {} : { '/etc/prober.yaml': yaml }) };
  const readFile = async (path: string) => {
    if (path in all) return all[path] as string;
    throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
  };
  return loadConfig({ file: yaml === undefined ? undefined : '/etc/prober.yaml', env, readFile, ...extra });
}

function expectConfig(result: ConfigResult): Config {
  if (!result.ok) throw new Error(`expected a valid config, got: ${JSON.stringify(result.problems, null, 2)}`);
  return result.config;
}

function expectProblems(result: ConfigResult): ConfigProblem[] {
  if (result.ok) throw new Error('expected configuration problems, got a valid config');
  return result.problems;
}

const problemAt = (problems: ConfigProblem[], key: string) => problems.find((p) => p.key === key);

/** `{ a: { b: 1 } }` → `{ 'a.b': 1 }`, lists as leaves; undefined and null both mean "no default". */
function flatten(node: unknown, prefix = ''): Record<string, unknown> {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return { [prefix]: node ?? null };
  return Object.assign({}, ...Object.entries(node).map(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k)));
}

describe('loading the configuration', () => {
  it('runs on the defaults alone once INVENTORY_URL says where the inventory is', async () => {
    const config = expectConfig(await load(undefined));
    expect(config.inventory.url).toBe('http://127.0.0.1:8080/api/v1');
    expect(config.inventory.page_size).toBe(100);
    expect(config.schedule).toEqual({ interval_seconds: 60, cron: undefined, spread: 0.8 });
    expect(config.status).toMatchObject({ down_after: 3, up_after: 1, mass_outage: { enabled: true, share: 0.5, min_devices: 10 } });
    expect(config.redis.url).toBeInstanceOf(Secret);
    expect(config.redis.url?.reveal()).toBe('redis://127.0.0.1:6379');
  });

  it('refuses to start without an inventory URL, but lets inventory-free commands run', async () => {
    expect(problemAt(expectProblems(await load(undefined, {})), 'inventory.url')?.message).toMatch(/must be a URL starting with http:\/\/ or https:\/\//);
    expect(expectConfig(await load(undefined, {}, {}, { requireInventory: false })).inventory.url).toBe('');
  });

  it('lets environment variables win over the file, and keeps the file over the defaults', async () => {
    const yaml = 'inventory:\n  url: https://file.example/api\nmetrics:\n  port: 9100\nlog:\n  level: debug\nstatus:\n  down_after: 5\n';
    const env = { INVENTORY_URL: 'http://127.0.0.1:9/api', METRICS_PORT: '9200', LOG_LEVEL: 'warn', REDIS_URL: 'redis://127.0.0.1:6390' };
    const config = expectConfig(await load(yaml, env));
    expect(config.inventory.url).toBe('http://127.0.0.1:9/api');
    expect(config.metrics.port).toBe(9200);
    expect(config.log.level).toBe('warn');
    expect(config.redis.url?.reveal()).toBe('redis://127.0.0.1:6390');
    expect(config.status.down_after).toBe(5);
  });

  it('keeps the defaults of a section whose keys are all commented out', async () => {
    const config = expectConfig(await load('status:\n  # down_after: 5\nworker:\n'));
    expect(config.status).toMatchObject({ down_after: 3, up_after: 1, mass_outage: { enabled: true, share: 0.5, min_devices: 10 } });
    expect(config.worker).toEqual({ concurrency: 1000, batch_size: 100, groups: ['default'], report: true });
  });

  it('treats an empty environment variable as unset', async () => {
    const config = expectConfig(await load(undefined, { ...URL_ENV, LOG_LEVEL: '', INVENTORY_TOKEN: '' }));
    expect(config.log.level).toBe('info');
    expect(config.inventory.token).toBeUndefined();
  });
});

describe('validation reports every problem at once', () => {
  it('lists each bad value with its key and the expected form', async () => {
    const yaml = [
      'inventory:',
      '  url: ftp://inventory.example',
      '  page_size: 500',
      '  filters: { organization: [12, -3] }',
      'schedule:',
      '  spread: 1.5',
      'probes:',
      '  up_when: maybe',
      '  icmp: { count: 0 }',
      '  snmp: { version: "4", port: 70000 }',
      'status:',
      '  down_after: 0',
      'worker:',
      '  concurrency: 2.5',
      '  batch_size: 5000',
      'log:',
      '  level: loud',
      'metrics:',
      '  port: -1',
    ].join('\n');
    const problems = expectProblems(await load(yaml, {}));
    const expected: Record<string, RegExp> = {
      'inventory.url': /must be a URL starting with http:\/\/ or https:\/\//,
      'inventory.page_size': /must be a whole number from 1 to 100 \(got 500\)/,
      'inventory.filters.organization': /must be a list of whole numbers ≥ 1/,
      'schedule.spread': /must be a number from 0 to 1/,
      'probes.up_when': /must be one of "any", "all", "icmp", "snmp"/,
      'probes.icmp.count': /must be a whole number from 1 to 10/,
      'probes.snmp.version': /must be one of "1", "2c", "3"/,
      'probes.snmp.port': /must be a whole number from 1 to 65535/,
      'status.down_after': /must be a whole number ≥ 1/,
      'worker.concurrency': /must be a whole number from 1 to 10000/,
      'worker.batch_size': /must be a whole number from 1 to 1000 \(got 5000\)/,
      'log.level': /must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"/,
      'metrics.port': /must be a whole number from 0 to 65535/,
    };
    for (const [key, message] of Object.entries(expected)) expect(problemAt(problems, key)?.message, key).toMatch(message);
    expect(problems).toHaveLength(Object.keys(expected).length);
  });

  it('reports a mapping written where a list belongs, instead of keeping the default list', async () => {
    const yaml = 'inventory:\n  filters:\n    organization:\n      acme: 12\nworker:\n  groups:\n    site-a: true\nrouting:\n  rules:\n    organization: [12]\n';
    const problems = expectProblems(await load(yaml));
    expect(problemAt(problems, 'inventory.filters.organization')?.message).toMatch(/must be a list/);
    expect(problemAt(problems, 'worker.groups')).toBeDefined();
    expect(problemAt(problems, 'routing.rules')).toBeDefined();
  });

  it('reports an unknown key instead of ignoring a typo, and suggests the right one', async () => {
    const problems = expectProblems(await load('status:\n  down_afer: 5\nprobs: {}\n'));
    expect(problemAt(problems, 'status.down_afer')?.message).toMatch(/not a known key \(did you mean "down_after"\?\)/);
    expect(problemAt(problems, 'probs')?.message).toMatch(/did you mean "probes"/);
  });

  it('reports a YAML syntax error with its line and column, without quoting the file', async () => {
    const problems = expectProblems(await load('inventory:\n  url: [http://x\nstatus:\n  down_after: 3\n'));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.key).toBe('/etc/prober.yaml');
    expect(problems[0]?.message).toMatch(/^YAML syntax error at line 3, column 1: /);
    expect(problems[0]?.message).not.toContain('\n');
  });

  it('reports a missing config file by path instead of throwing', async () => {
    const result = await loadConfig({ file: '/nonexistent/prober.yaml', env: URL_ENV, readFile: () => Promise.reject(Object.assign(new Error('x'), { code: 'ENOENT' })) });
    expect(expectProblems(result)).toEqual([{ key: '/nonexistent/prober.yaml', message: 'cannot read the config file (ENOENT)' }]);
  });

  it('names the environment variable behind a bad value', async () => {
    const problems = expectProblems(await load(undefined, { ...URL_ENV, METRICS_PORT: 'ninety' }));
    expect(problemAt(problems, 'metrics.port')?.message).toMatch(/\(from METRICS_PORT\)$/);
  });

  it('accepts SNMP version 1 written as a YAML number but rejects a bare 2 as ambiguous', async () => {
    expect(expectConfig(await load('probes:\n  snmp:\n    version: 1\n')).probes.snmp.version).toBe('1');
    const problems = expectProblems(await load('probes:\n  snmp:\n    version: 2\n'));
    expect(problemAt(problems, 'probes.snmp.version')?.message).toMatch(/ambiguous: write "2c"/);
  });

  it('needs at least one probe, and the probe up_when relies on', async () => {
    const none = expectProblems(await load('probes:\n  icmp: { enabled: false }\n  snmp: { enabled: false }\n'));
    expect(problemAt(none, 'probes')?.message).toMatch(/at least one of probes.icmp.enabled and probes.snmp.enabled/);
    const icmpOnly = expectProblems(await load('probes:\n  up_when: icmp\n  icmp: { enabled: false }\n'));
    expect(problemAt(icmpOnly, 'probes.up_when')?.message).toMatch(/needs probes.icmp.enabled: true/);
  });

  it('rejects a cycle too short for one check to finish', async () => {
    const problems = expectProblems(await load('schedule:\n  interval_seconds: 2\n'));
    expect(problemAt(problems, 'schedule.interval_seconds')?.message).toMatch(/icmp 3 × 1000 ms = 3000 ms.*snmp 2000 ms × \(1 retries \+ 1\) = 4000 ms.*the cycle is 2 s/);
  });

  it('turns into a ConfigError that carries the problems and exit code 2', async () => {
    const problems = expectProblems(await load(undefined, {}));
    const err = new ConfigError(problems);
    expect(err).toMatchObject({ kind: 'config', retryable: false, exitCode: 2, problems });
  });
});

describe('schedule: interval or cron', () => {
  it('lets a cron pattern replace the default interval, deriving the interval from its runs', async () => {
    const config = expectConfig(await load('schedule:\n  cron: "*/30 * * * * *"\n'));
    expect(config.schedule.cron).toBe('*/30 * * * * *');
    expect(config.schedule.interval_seconds).toBe(30);
  });

  it('refuses both an interval and a cron pattern, and a broken pattern', async () => {
    const both = expectProblems(await load('schedule:\n  interval_seconds: 60\n  cron: "* * * * *"\n'));
    expect(problemAt(both, 'schedule')?.message).toMatch(/exactly one of schedule.interval_seconds and schedule.cron/);
    const broken = expectProblems(await load('schedule:\n  cron: "61 * * * *"\n'));
    expect(problemAt(broken, 'schedule.cron')?.message).toMatch(/must be a valid cron pattern/);
    const neither = expectProblems(await load('schedule:\n  interval_seconds:\n'));
    expect(problemAt(neither, 'schedule')?.message).toMatch(/set one of/);
  });
});

describe('secrets', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'prober-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const fromDisk = (path: string) => fsReadFile(path, 'utf8');

  it('reads the token from INVENTORY_TOKEN_FILE without its trailing newline', async () => {
    const path = join(dir, 'token');
    await writeFile(path, 'tok-from-file-123\n');
    const result = await loadConfig({ env: { ...URL_ENV, INVENTORY_TOKEN_FILE: path }, readFile: fromDisk });
    const config = expectConfig(result);
    expect(config.inventory.token?.reveal()).toBe('tok-from-file-123');
    expect(config.inventory.token_file).toBe(path);
  });

  it('reports an unreadable token file by key and path instead of crashing', async () => {
    const path = join(dir, 'missing-token');
    const problems = expectProblems(await loadConfig({ env: { ...URL_ENV, INVENTORY_TOKEN_FILE: path }, readFile: fromDisk }));
    expect(problemAt(problems, 'inventory.token_file')?.message).toBe(`cannot read file "${path}" (from INVENTORY_TOKEN_FILE) (ENOENT); it must be readable by the prober`);
  });

  it('rejects a token written in the config file and says where to put it', async () => {
    const problems = expectProblems(await load('inventory:\n  token: inline-tok-999\n'));
    const problem = problemAt(problems, 'inventory.token');
    expect(problem?.message).toMatch(/must not be written in the config file.*inventory.token_file.*INVENTORY_TOKEN_FILE.*INVENTORY_TOKEN/);
    expect(JSON.stringify(problems)).not.toContain('inline-tok-999');
  });

  it('accepts an inline community, and lets SNMP_COMMUNITY_FILE override it', async () => {
    const inline = expectConfig(await load('probes:\n  snmp:\n    community: public\n'));
    expect(inline.probes.snmp.community).toBeInstanceOf(Secret);
    expect(inline.probes.snmp.community?.reveal()).toBe('public');
    const overridden = expectConfig(await load('probes:\n  snmp:\n    community: public\n', { ...URL_ENV, SNMP_COMMUNITY_FILE: '/run/c' }, { '/run/c': 'n0t-public\n' }));
    expect(overridden.probes.snmp.community?.reveal()).toBe('n0t-public');
  });

  it('requires the user and both keys for SNMPv3, and takes the keys from files', async () => {
    const v3 = 'probes:\n  snmp:\n    version: "3"\n';
    const problems = expectProblems(await load(v3));
    expect(problems.map((p) => p.key).sort()).toEqual(['probes.snmp.v3.auth_key', 'probes.snmp.v3.priv_key', 'probes.snmp.v3.user']);
    expect(problemAt(problems, 'probes.snmp.v3.auth_key')?.message).toMatch(/required when probes.snmp.version is "3".*SNMP_V3_AUTH_KEY_FILE/);
    const withKeys = `${v3}    v3: { user: monitor, auth_key_file: /run/auth, priv_key_file: /run/priv }\n`;
    const config = expectConfig(await load(withKeys, URL_ENV, { '/run/auth': 'auth-pass-1\n', '/run/priv': 'priv-pass-1\n' }));
    expect(config.probes.snmp.v3.auth_key?.reveal()).toBe('auth-pass-1');
    expect(config.probes.snmp.v3.priv_key?.reveal()).toBe('priv-pass-1');
  });
});

describe('check-config output', () => {
  it('never prints the token, community, v3 keys or redis password, and shows <secret> instead', async () => {
    const env = {
      INVENTORY_URL: 'http://127.0.0.1:8080/api/v1',
      INVENTORY_TOKEN: 'TOKEN-zq81x',
      SNMP_COMMUNITY: 'COMMUNITY-k2v9',
      SNMP_V3_AUTH_KEY: 'AUTHKEY-p4m7w',
      SNMP_V3_PRIV_KEY: 'PRIVKEY-r3n6y',
      REDIS_URL: 'redis://:REDISPASS-h5t2@cache.internal:6380/2',
    };
    const config = expectConfig(await load('probes:\n  snmp:\n    v3: { user: monitor }\n', env));
    const output = renderEffectiveConfig(config);
    for (const secret of ['TOKEN-zq81x', 'COMMUNITY-k2v9', 'AUTHKEY-p4m7w', 'PRIVKEY-r3n6y', 'REDISPASS-h5t2']) expect(output).not.toContain(secret);
    expect(output).toContain('redis://:<secret>@cache.internal:6380/2');
    const printed = parse(output);
    expect(printed.inventory.token).toBe('<secret>');
    expect(printed.probes.snmp.community).toBe('<secret>');
    expect(printed.probes.snmp.v3.auth_key).toBe('<secret>');
    expect(printed.probes.snmp.v3.priv_key).toBe('<secret>');
    expect(printed.probes.snmp.v3.user).toBe('monitor');
  });
});

describe('shipped config files', () => {
  const read = (name: string) => fsReadFile(new URL(`../../config/${name}`, import.meta.url), 'utf8');

  it('default.yaml documents exactly the keys and values of DEFAULTS', async () => {
    expect(flatten(parse(await read('default.yaml')))).toEqual(flatten(DEFAULTS));
  });

  it('default.yaml loads and validates as-is once the inventory URL is given', async () => {
    expectConfig(await load(await read('default.yaml')));
  });

  it('example.yaml is a valid production configuration with its secrets mounted', async () => {
    const files = { '/run/secrets/inventory-token': 'tok\n', '/run/secrets/snmp-community': 'comm\n' };
    const env = { SNMP_COMMUNITY_FILE: '/run/secrets/snmp-community', REDIS_URL: 'rediss://:pw@redis.internal:6380/0' };
    const config = expectConfig(await load(await read('example.yaml'), env, files));
    expect(config.inventory.url).toBe('https://inventory.example.net/api/v1');
    expect(config.inventory.token?.reveal()).toBe('tok');
    expect(config.inventory.filters).toEqual({ organization: [123, 456], type: [1, 2] });
  });
});

describe('probe engines', () => {
  it('defaults to in-process ICMP sockets and the shared SNMP socket, and lets either kind go back to one process or socket per probe', async () => {
    const defaults = expectConfig(await load(undefined));
    expect([defaults.probes.icmp.engine, defaults.probes.snmp.engine]).toEqual(['native', 'shared']);
    const chosen = expectConfig(await load('probes:\n  icmp: { engine: ping }\n  snmp: { engine: session-per-probe }\n'));
    expect([chosen.probes.icmp.engine, chosen.probes.snmp.engine]).toEqual(['ping', 'session-per-probe']);
  });

  it('names the key and the choices of an unknown engine', async () => {
    const problems = expectProblems(await load('probes:\n  icmp: { engine: nmap }\n  snmp: { engine: pooled }\n'));
    expect(problemAt(problems, 'probes.icmp.engine')?.message).toMatch(/must be one of "native", "fping", "ping" \(got "nmap"\)/);
    expect(problemAt(problems, 'probes.snmp.engine')?.message).toMatch(/must be one of "session-per-probe", "shared" \(got "pooled"\)/);
  });
});
