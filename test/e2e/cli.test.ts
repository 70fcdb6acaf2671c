import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI, writeConfig } from '../support/daemon.js';

const TOKEN = 'cli-token-31c7e0';
const COMMUNITY = 'cli-community-8d2f';

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('inventory-prober CLI', () => {
  it('check-config reports every bad value at once with its key and exits 2', () => {
    const file = writeConfig(`
inventory:
  url: ftp://nope
  page_size: 500
probes:
  up_when: sometimes
  snmp:
    version: 4
status:
  down_afer: 3
`);
    const r = cli(['check-config', '--config', file]);
    expect(r.code).toBe(2);
    for (const key of ['inventory.url', 'inventory.page_size', 'probes.up_when', 'probes.snmp.version', 'status.down_afer']) {
      expect(r.stderr).toContain(key);
    }
  });

  it('check-config prints the effective config with every secret as <secret>', () => {
    const tokenFile = writeConfig('');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const file = writeConfig(`
inventory:
  url: https://inventory.example.net/api/v1
  token_file: ${tokenFile}
probes:
  snmp:
    community: ${COMMUNITY}
`);
    const r = cli(['check-config', '--config', file], { REDIS_URL: 'redis://:redis-pass-77@127.0.0.1:6390/0' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('<secret>');
    expect(r.stdout).toContain('https://inventory.example.net/api/v1');
    for (const secret of [TOKEN, COMMUNITY, 'redis-pass-77']) expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it('run without an inventory URL exits 2 and says which key is missing', () => {
    const r = cli(['run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('inventory.url');
  });

  it('an unknown command or role is a usage error (exit 2)', () => {
    expect(cli(['frobnicate']).code).toBe(2);
    expect(cli(['run', '--role', 'boss'], { INVENTORY_URL: 'http://127.0.0.1:1/api/v1' }).code).toBe(2);
  });

  it('probe refuses a target that is not an IP or hostname, without running ping', () => {
    const r = cli(['probe', '-f']);
    expect(r.code).toBe(2);
    const r2 = cli(['probe', '$(touch /tmp/pwned)']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('not a valid probe target');
  });

  it('probe HOST prints a human result of one ICMP + SNMP check', () => {
    // A port where no agent listens, so SNMP is reliably down whatever this machine runs.
    const file = writeConfig('probes:\n  icmp: { count: 1 }\n  snmp: { port: 9, timeout_ms: 300, retries: 0 }\n');
    const r = cli(['probe', '127.0.0.1', '--community', 'public', '--config', file]);
    expect(r.stdout).toContain('127.0.0.1');
    expect(r.stdout).toMatch(/icmp\s+UP/);
    expect(r.stdout).toMatch(/snmp\s+DOWN/);
    expect(r.stdout).toContain('verdict (up_when=any): UP');
    expect(r.code).toBe(0);
  });
});
