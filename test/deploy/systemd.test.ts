import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const UNIT = 'inventory-prober.service';
const unitText = readFileSync(join(root, 'deploy/systemd', UNIT), 'utf8');
const sysctlText = readFileSync(join(root, 'deploy/systemd/99-inventory-prober-ping.conf'), 'utf8');

/** Section → key → every value in order (systemd keys may repeat; an empty value resets a list). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1] as string, current);
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq).trim();
    current?.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

const service = parseUnit(unitText).get('Service') ?? new Map<string, string[]>();
const last = (key: string) => service.get(key)?.at(-1);
const environment = new Map(
  (service.get('Environment') ?? []).flatMap((v) => v.split(/\s+/)).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);

/** systemd time spans as the unit writes them: "30", "30s", "1min 30s". */
function seconds(span: string): number {
  const units: Record<string, number> = { '': 1, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  return [...span.matchAll(/(\d+)\s*([a-z]*)/g)].reduce((sum, [, n, unit]) => sum + Number(n) * (units[unit ?? ''] ?? NaN), 0);
}

const hasTool = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' }).status === 0;
const hasAnalyze = hasTool('systemd-analyze', ['--version']);
const analyzeHelp = hasAnalyze ? spawnSync('systemd-analyze', ['security', '--help'], { encoding: 'utf8' }).stdout : '';

/**
 * A copy of the unit whose ExecStart points at this machine's node and this checkout's dist/cli.js.
 * `verify` checks that the ExecStart binary exists; on a build or CI machine /usr/bin/node may not,
 * and /opt/inventory-prober never does. Rewriting the paths (rather than ignoring that message)
 * keeps verify checking the executable for real and matches no tool output text.
 */
function localCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'unit-'));
  const text = unitText.replace(
    /^ExecStart=\/usr\/bin\/node \/opt\/inventory-prober\/dist\/cli\.js /m,
    `ExecStart=${process.execPath} ${join(root, 'dist/cli.js')} `,
  );
  expect(text).not.toBe(unitText);
  writeFileSync(join(dir, UNIT), text);
  return join(dir, UNIT);
}

describe('systemd unit', () => {
  it.skipIf(!hasAnalyze)('passes `systemd-analyze verify` with no complaint about the unit', () => {
    const r = spawnSync('systemd-analyze', ['verify', localCopy()], { encoding: 'utf8', timeout: 60_000 });
    // Other units on the host (the targets we order after) may have problems of their own: only
    // lines about our unit count.
    const ours = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.includes(UNIT));
    expect(ours).toEqual([]);
  });

  it.skipIf(!analyzeHelp.includes('--offline'))('scores as well hardened in `systemd-analyze security` (exposure ≤ 2.0 of 10)', () => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=20', '--no-pager', localCopy()], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout.split('\n').filter((l) => l.includes('✗')).join('\n')).toBe(0);
  });

  it('runs the built CLI with the config every deployment uses', () => {
    expect(last('ExecStart')).toBe('/usr/bin/node /opt/inventory-prober/dist/cli.js run --config /etc/inventory-prober/config.yaml');
    expect(last('Type')).toMatch(/^(exec|simple)$/);
  });

  it("passes check-config with the unit's environment, its credential and the example config", () => {
    // What README's install steps produce: config/example.yaml as config.yaml, the token as a credential.
    const credentials = mkdtempSync(join(tmpdir(), 'creds-'));
    writeFileSync(join(credentials, 'inventory-token'), 'unit-test-token\n');
    const env = Object.fromEntries([...environment].map(([k, v]) => [k, v.replace('%d', credentials)]));
    const r = spawnSync(process.execPath, [join(root, 'dist/cli.js'), 'check-config', '--config', join(root, 'config/example.yaml')], {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.stderr).toContain('configuration is valid');
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('unit-test-token');
  });

  it('hands the inventory token over as a credential file, never as a value in the unit', () => {
    expect(service.get('LoadCredential')).toContain('inventory-token:/etc/inventory-prober/inventory-token');
    expect(environment.get('INVENTORY_TOKEN_FILE')).toBe('%d/inventory-token');
    expect(environment.has('INVENTORY_TOKEN')).toBe(false);
    expect(environment.has('REDIS_URL')).toBe(false); // may carry a password: EnvironmentFile only
  });

  it('sets only environment variables the prober reads', () => {
    // Secrets only in their _FILE form: Environment= values are readable by any user via `systemctl show`.
    const known = ['INVENTORY_URL', 'INVENTORY_TOKEN_FILE', 'METRICS_PORT', 'LOG_LEVEL', 'SNMP_COMMUNITY_FILE', 'SNMP_V3_AUTH_KEY_FILE', 'SNMP_V3_PRIV_KEY_FILE', 'NODE_ENV'];
    for (const name of environment.keys()) expect(known).toContain(name);
  });

  it('is hardened: no privileges, no capabilities granted, read-only OS, limited sockets', () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectControlGroups: 'yes',
      RestrictNamespaces: 'yes',
      RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes',
      SystemCallArchitectures: 'native',
      // No capability at all: the native ICMP engine needs none (test/e2e/native-icmp-unprivileged.test.ts).
      CapabilityBoundingSet: '',
      AmbientCapabilities: '',
    };
    for (const [key, value] of Object.entries(expected)) expect(last(key), key).toBe(value);
    expect(last('DynamicUser') === 'yes' || last('User') !== undefined).toBe(true);
    expect(last('RestrictAddressFamilies')?.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
    // V8's JIT needs writable-then-executable memory: this would stop node at start-up.
    expect(last('MemoryDenyWriteExecute') ?? 'no').toBe('no');
  });

  it('gives the daemon its shutdown grace before SIGKILL, and does not restart on bad config', () => {
    expect(last('KillSignal')).toBe('SIGTERM');
    expect(seconds(last('TimeoutStopSec') ?? '0')).toBeGreaterThan(DEFAULTS.shutdown.grace_seconds);
    expect(last('Restart')).toBe('on-failure');
    expect(last('RestartPreventExitStatus')?.split(/\s+/)).toContain('2');
  });
});

describe('ping sysctl drop-in', () => {
  it('lets every DynamicUser gid (61184–65519) open ICMP datagram sockets', () => {
    const [, low, high] = /^\s*net\.ipv4\.ping_group_range\s*=\s*(\d+)\s+(\d+)\s*$/m.exec(sysctlText) ?? [];
    expect(Number(low)).toBeLessThanOrEqual(61184);
    expect(Number(high)).toBeGreaterThanOrEqual(65519);
    expect(Number(high)).toBeLessThanOrEqual(2147483647); // the kernel rejects larger gids
  });
});
