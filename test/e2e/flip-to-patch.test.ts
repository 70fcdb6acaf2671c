import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InventoryServer } from '../support/inventory-server.js';
import type { SnmpAgent } from '../support/snmp-agent.js';
import { metricValue, waitFor, type DaemonProcess } from '../support/daemon.js';
import { startStack, type Stack } from '../support/fleet.js';

const TOKEN = 'e2e-token-9f8e7d';
const COMMUNITY = 'e2e-community-5a4b';
const ADDRESSES = ['127.0.10.1', '127.0.10.2', '127.0.10.3'];

let stack: Stack;
let inventory: InventoryServer;
let agents: SnmpAgent[] = [];
let daemon: DaemonProcess;
let metricsPort: number;

beforeAll(async () => {
  stack = await startStack({ token: TOKEN, community: COMMUNITY, addresses: ADDRESSES, prefix: 'e2e', env: { LOG_LEVEL: 'debug' } });
  ({ inventory, agents, daemon, metricsPort } = stack);
  await waitFor('the daemon to check every device twice', async () => (await metricValue(metricsPort, 'inventory_prober_checks_total').catch(() => 0)) >= 6);
}, 60_000);

afterAll(async () => {
  await stack?.stop('SIGKILL');
});

const flipsOf = (id: number) => daemon.logs.filter((l) => l.msg === 'device flipped' && l.deviceId === id);

describe('end to end: built CLI, real Redis, real inventory server, real SNMP agents', () => {
  it('a steady fleet causes no PATCH', () => {
    expect(inventory.patches).toEqual([]);
  });

  it('PATCHes {"status": false} exactly once when a device goes down, and {"status": true} once when it returns', async () => {
    agents[1]?.setResponding(false);
    await waitFor('PATCH status:false for device 2', () => inventory.patches.some((p) => p.id === 2), 30_000);
    const downChecks = await metricValue(metricsPort, 'inventory_prober_checks_total', { outcome: 'down' });
    await waitFor('two more down checks of device 2', async () => (await metricValue(metricsPort, 'inventory_prober_checks_total', { outcome: 'down' })) >= downChecks + 2);
    expect(inventory.patches.map((p) => ({ id: p.id, body: p.body }))).toEqual([{ id: 2, body: { status: false } }]);

    agents[1]?.setResponding(true);
    await waitFor('PATCH status:true for device 2', () => inventory.patches.length >= 2, 30_000);
    const checks = await metricValue(metricsPort, 'inventory_prober_checks_total');
    await waitFor('three more cycles of checks', async () => (await metricValue(metricsPort, 'inventory_prober_checks_total')) >= checks + 9);

    expect(inventory.patches.map((p) => ({ id: p.id, body: p.body }))).toEqual([
      { id: 2, body: { status: false } },
      { id: 2, body: { status: true } },
    ]);
    expect(inventory.devices.find((d) => d.id === 2)?.status).toBe(true);
  }, 90_000);

  it('logs one JSON line per flip with device, organization, from, to and the reason', () => {
    const flips = flipsOf(2);
    expect(flips.map((f) => [f.from, f.to])).toEqual([
      ['up', 'down'],
      ['down', 'up'],
    ]);
    expect(flips[0]).toMatchObject({ level: 'info', device: 'device-2', organization: 'Headquarters Network' });
    expect(String(flips[0]?.reason)).toMatch(/snmp/);
    expect(flipsOf(1)).toEqual([]);
    expect(flipsOf(3)).toEqual([]);
  });

  it('never writes the token or the community to the logs', () => {
    expect(daemon.raw()).not.toContain(TOKEN);
    expect(daemon.raw()).not.toContain(COMMUNITY);
  });

  it('exits 0 on SIGTERM after a clean shutdown', async () => {
    expect(await daemon.stop('SIGTERM')).toBe(0);
    expect(daemon.logs.some((l) => l.msg === 'shutdown complete')).toBe(true);
  }, 30_000);
});
