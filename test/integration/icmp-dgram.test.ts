import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The daemon as the deploy files run it: an unprivileged user with no_new_privs (systemd
 * NoNewPrivileges=, Kubernetes allowPrivilegeEscalation: false), ICMP through
 * net.ipv4.ping_group_range, so fping's cap_net_raw is ignored and it gets an ICMP datagram
 * socket. fping before 5.2 then drops every reply. Run in a network namespace this test creates
 * (ping_group_range is per namespace; only its loopback is pinged), against the built dist/.
 */
const NS = `ip-dgram-${process.pid}`;
const DIST = resolve('dist');
const canRun = process.getuid?.() === 0 && spawnSync('ip', ['-V']).status === 0 && spawnSync('setpriv', ['--version']).status === 0;

// Runs inside the namespace as nobody: what fping alone says about 127.0.0.1, then what the
// worker's start-up choice of engine makes of it.
const SCRIPT = `
const { createFpingProbe } = await import('${DIST}/probes/fping.js');
const { usableIcmpProbe } = await import('${DIST}/probes/icmp-engine.js');
const { icmpEngines } = await import('${DIST}/probes/registry.js');
const settings = { count: 1, timeoutMs: 500 };
const target = { deviceId: 1, address: '127.0.0.1' };
const fpingAlone = await createFpingProbe(settings).run(target, AbortSignal.timeout(5000));
const chosen = await usableIcmpProbe('fping', (engine) => icmpEngines[engine](settings));
const checked = await chosen.probe.run(target, AbortSignal.timeout(5000));
console.log(JSON.stringify({ fpingAlone, engine: chosen.engine, fellBackFrom: chosen.fellBack?.from ?? null, hint: chosen.fellBack?.hint ?? null, checked }));
`;

let dir = '';

beforeAll(() => {
  if (!canRun) return;
  dir = mkdtempSync(join(tmpdir(), 'ip-dgram-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'choose.mjs'), SCRIPT, { mode: 0o644 });
  execFileSync('ip', ['netns', 'add', NS]);
  execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  execFileSync('ip', ['netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv4.ping_group_range=0 2147483647']);
});

afterAll(() => {
  if (!canRun) return;
  spawnSync('ip', ['netns', 'delete', NS]);
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!canRun)('ICMP engine as an unprivileged daemon with no_new_privs (needs root, ip, setpriv)', () => {
  it('never leaves an fping that hears nothing in charge: it checks with ping instead, and 127.0.0.1 is up', () => {
    const run = spawnSync(
      'ip',
      ['netns', 'exec', NS, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--no-new-privs', '--inh-caps=-all', process.execPath, join(dir, 'choose.mjs')],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(run.stderr).toBe('');
    const { fpingAlone, engine, fellBackFrom, hint, checked } = JSON.parse(run.stdout) as Record<string, { outcome?: string; reason?: string } & string>;
    expect(checked).toMatchObject({ outcome: 'up' });
    if (fpingAlone?.outcome === 'up') {
      // An fping that reads datagram sockets (5.2 or later) stays the engine.
      expect({ engine, fellBackFrom }).toEqual({ engine: 'fping', fellBackFrom: null });
    } else {
      // Debian 12's fping 5.1: every reply dropped, so without the check every device would be down.
      expect(fpingAlone).toMatchObject({ outcome: 'down', reason: 'no-reply' });
      expect({ engine, fellBackFrom }).toEqual({ engine: 'ping', fellBackFrom: 'fping' });
      expect(hint).toContain('fping#248');
    }
  });
});
