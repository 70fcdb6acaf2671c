import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeDevice, startInventoryServer, type InventoryServer } from '../support/inventory-server.js';
import { startSnmpAgent, type SnmpAgent } from '../support/snmp-agent.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { startDaemon, waitFor, writeConfig, type DaemonProcess, type LogLine } from '../support/daemon.js';

const TOKEN = 'fault-twins-token-9b3e';
const COMMUNITY = 'fault-twins-community-42';
const FLEET = 4;
const address = (id: number) => `127.0.85.${id}`;

let redis: ThrowAwayRedis;
let inventory: InventoryServer;
let agents: SnmpAgent[] = [];
let daemons: DaemonProcess[] = [];

const sweepLines = (): LogLine[] => daemons.flatMap((d) => d.logs.filter((l) => l.msg === 'sweep done'));
const flipsOf = (id: number) => daemons.flatMap((d) => d.logs.filter((l) => l.msg === 'device flipped' && l.deviceId === id));

beforeAll(async () => {
  redis = await startRedis();
  const ids = Array.from({ length: FLEET }, (_, i) => i + 1);
  const first = await startSnmpAgent({ address: address(1), port: 0, community: COMMUNITY });
  agents = [first, ...(await Promise.all(ids.slice(1).map((id) => startSnmpAgent({ address: address(id), port: first.port, community: COMMUNITY }))))];
  inventory = await startInventoryServer({
    token: TOKEN,
    devices: ids.map((id) => fakeDevice(id, { hostname: address(id), management_ip: address(id), snmp_community: COMMUNITY, status: true })),
  });
  const config = writeConfig(`
inventory: { url: "${inventory.url}" }
redis: { prefix: fault-twins }
schedule: { interval_seconds: 1, spread: 0.5 }
probes:
  up_when: all
  icmp: { count: 1, timeout_ms: 500 }
  snmp: { version: "2c", port: ${first.port}, timeout_ms: 300, retries: 0 }
status: { down_after: 2, up_after: 1, mass_outage: { enabled: false } }
metrics: { host: 127.0.0.1 }
`);
  const env = { INVENTORY_TOKEN: TOKEN, REDIS_URL: redis.url, METRICS_PORT: '0' };
  daemons = [startDaemon(['run', '--config', config, '--role', 'all'], env), startDaemon(['run', '--config', config, '--role', 'all'], env)];
  await waitFor('both daemons running', () => daemons.every((d) => d.logs.some((l) => l.msg === 'inventory-prober running')), 30_000);
}, 60_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  await Promise.all(agents.map((a) => a.close()));
  await inventory?.close();
  await redis?.stop();
});

describe('two --role all daemons sharing one Redis', () => {
  it('sweep each cycle exactly once between them, and PATCH a device that goes down exactly once', async () => {
    await waitFor('five sweeps', () => sweepLines().length >= 5, 30_000);
    agents[2]?.setResponding(false);
    await waitFor('the PATCH for device 3', () => inventory.patches.length > 0, 30_000);
    const sweeps = sweepLines().length;
    await waitFor('four more sweeps', () => sweepLines().length >= sweeps + 4, 30_000);

    const lines = sweepLines();
    const cycles = new Set(lines.map((l) => l.cycle));
    expect(lines.length).toBe(cycles.size);
    expect(lines.every((l) => typeof l.cycle === 'number')).toBe(true);
    expect(inventory.patches.map((p) => ({ id: p.id, body: p.body }))).toEqual([{ id: 3, body: { status: false } }]);
    expect(flipsOf(3)).toHaveLength(1);
    expect(daemons.every((d) => d.child.exitCode === null)).toBe(true);
  }, 120_000);
});
