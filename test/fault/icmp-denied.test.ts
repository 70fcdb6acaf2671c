import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InventoryServer } from '../support/inventory-server.js';
import { metricValue, waitFor, type DaemonProcess } from '../support/daemon.js';
import { startStack, type Stack } from '../support/fleet.js';

/**
 * A host where the prober may not send ICMP (no cap_net_raw, group outside ping_group_range).
 * A fake `ping` first in PATH answers exactly as iputils does there. Every ICMP probe is then the
 * prober's own error: it says so once at start-up, counts it, and no device changes state.
 */

const TOKEN = 'fault-icmp-token-46';
const COMMUNITY = 'fault-icmp-community-46';
const ADDRESSES = ['127.0.46.1', '127.0.46.2', '127.0.46.3'];

let stack: Stack;
let inventory: InventoryServer;
let daemon: DaemonProcess;
let metricsPort: number;
let fakeBin: string;

const metric = (name: string, labels: Record<string, string> = {}) => metricValue(metricsPort, `inventory_prober_${name}`, labels).catch(() => 0);

beforeAll(async () => {
  fakeBin = mkdtempSync(join(tmpdir(), 'ip-noicmp-'));
  // Both ICMP engines' binaries, answering as iputils ping and fping do without permission.
  writeFileSync(join(fakeBin, 'ping'), '#!/bin/sh\necho "ping: socket: Operation not permitted" >&2\nexit 2\n');
  writeFileSync(join(fakeBin, 'fping'), '#!/bin/sh\necho "fping: can\'t create socket (must run as root?)" >&2\nexit 4\n');
  for (const name of ['ping', 'fping']) chmodSync(join(fakeBin, name), 0o755);

  stack = await startStack({
    token: TOKEN,
    community: COMMUNITY,
    addresses: ADDRESSES,
    // Device 3 is Down in the inventory: it must stay Down, as devices 1 and 2 must stay Up.
    rows: (i) => ({ status: i !== 2 }),
    prefix: 'fault-icmp',
    // The binary engines, whose fakes say "not permitted"; the native engine's refusal is in
    // test/integration/native-icmp.test.ts (nobody outside ping_group_range).
    config: { probes: { up_when: 'icmp', icmp: { engine: 'fping' } } },
    env: { PATH: `${fakeBin}:${process.env.PATH ?? '/usr/bin:/bin'}`, SNMP_COMMUNITY: COMMUNITY, LOG_LEVEL: 'debug' },
  });
  ({ inventory, daemon, metricsPort } = stack);
  await waitFor('four inconclusive checks of every device', async () => (await metric('checks_total', { outcome: 'error' })) >= 4 * ADDRESSES.length, 60_000);
}, 90_000);

afterAll(async () => {
  await stack?.stop('SIGKILL');
  rmSync(fakeBin, { recursive: true, force: true });
});

describe('ICMP not permitted', () => {
  it('says so clearly at start-up, with the reason and what to change', () => {
    const lines = daemon.logs.filter((l) => l.msg.startsWith('ICMP is not permitted'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error' });
    expect(String(lines[0]?.reason)).toMatch(/Operation not permitted|can't create socket/);
    expect(String(lines[0]?.hint)).toContain('ping_group_range');
  });

  it('exports inventory_prober_icmp_permitted 0', async () => {
    expect(await metric('icmp_permitted')).toBe(0);
  });

  it('counts every ICMP probe as an error, never as down', async () => {
    const before = await metric('probes_total', { probe: 'icmp', outcome: 'error' });
    expect(before).toBeGreaterThanOrEqual(4 * ADDRESSES.length);
    await waitFor('more ICMP errors', async () => (await metric('probes_total', { probe: 'icmp', outcome: 'error' })) > before, 30_000);
    expect(await metric('probes_total', { probe: 'icmp', outcome: 'down' })).toBe(0);
    expect(await metric('checks_total', { outcome: 'down' })).toBe(0);
    const inconclusive = daemon.logs.find((l) => l.msg.startsWith('check inconclusive'));
    expect(String(inconclusive?.reason)).toMatch(/^icmp: icmp-not-permitted/);
  });

  it('keeps every device in its state: no flip, no PATCH', () => {
    expect(daemon.logs.filter((l) => l.msg === 'device flipped')).toEqual([]);
    expect(inventory.patches).toEqual([]);
    expect(inventory.devices.map((d) => d.status)).toEqual([true, true, false]);
  });
});
