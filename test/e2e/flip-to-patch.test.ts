import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInventoryServer, fakeDevice, type InventoryServer } from '../support/inventory-server.js';
import { startSnmpAgent, type SnmpAgent } from '../support/snmp-agent.js';
import { freePort, startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { metricValue, startDaemon, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';

const TOKEN = 'e2e-token-9f8e7d';
const COMMUNITY = 'e2e-community-5a4b';
const ADDRESSES = ['127.0.10.1', '127.0.10.2', '127.0.10.3'];

let redis: ThrowAwayRedis;
let inventory: InventoryServer;
let agents: SnmpAgent[] = [];
let daemon: DaemonProcess;
let metricsPort: number;

beforeAll(async () => {
  redis = await startRedis();
  const first = await startSnmpAgent({ address: ADDRESSES[0] as string, port: 0, community: COMMUNITY });
  agents = [first, ...(await Promise.all(ADDRESSES.slice(1).map((address) => startSnmpAgent({ address, port: first.port, community: COMMUNITY }))))];
  inventory = await startInventoryServer({
    token: TOKEN,
    devices: ADDRESSES.map((address, i) => fakeDevice(i + 1, { hostname: address, management_ip: address, snmp_community: COMMUNITY, status: true })),
  });
  metricsPort = await freePort();
  const config = writeConfig(`
inventory:
  url: ${inventory.url}
redis:
  prefix: e2e
schedule:
  interval_seconds: 1
  spread: 0.5
probes:
  up_when: all
  icmp: { count: 1, timeout_ms: 500 }
  snmp: { version: "2c", port: ${first.port}, timeout_ms: 300, retries: 0 }
status:
  down_after: 2
  up_after: 1
metrics:
  host: 127.0.0.1
`);
  daemon = startDaemon(['run', '--config', config], {
    INVENTORY_TOKEN: TOKEN,
    REDIS_URL: redis.url,
    METRICS_PORT: String(metricsPort),
    LOG_LEVEL: 'debug',
  });
  await waitFor('the daemon to check every device twice', async () => (await metricValue(metricsPort, 'inventory_prober_checks_total').catch(() => 0)) >= 6);
}, 60_000);

afterAll(async () => {
  await daemon?.stop('SIGKILL');
  await Promise.all(agents.map((a) => a.close()));
  await inventory?.close();
  await redis?.stop();
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
