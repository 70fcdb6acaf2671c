import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InventoryServer } from '../support/inventory-server.js';
import type { SnmpAgent } from '../support/snmp-agent.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { waitFor, writeConfig, type DaemonProcess, type LogLine } from '../support/daemon.js';
import { daemonYaml, loopbackAddresses, runDaemon, startFleet, type Fleet } from '../support/fleet.js';

const TOKEN = 'fault-twins-token-9b3e';
const COMMUNITY = 'fault-twins-community-42';
const FLEET = 4;

let redis: ThrowAwayRedis;
let fleet: Fleet;
let inventory: InventoryServer;
let agents: SnmpAgent[] = [];
let daemons: DaemonProcess[] = [];

const sweepLines = (): LogLine[] => daemons.flatMap((d) => d.logs.filter((l) => l.msg === 'sweep done'));
const flipsOf = (id: number) => daemons.flatMap((d) => d.logs.filter((l) => l.msg === 'device flipped' && l.deviceId === id));

beforeAll(async () => {
  redis = await startRedis();
  fleet = await startFleet({ token: TOKEN, community: COMMUNITY, addresses: loopbackAddresses(85, FLEET) });
  ({ inventory, agents } = fleet);
  const site = { inventoryUrl: inventory.url, prefix: 'fault-twins', snmpPort: fleet.snmpPort };
  const config = writeConfig(daemonYaml(site, { status: { mass_outage: { enabled: false } } }));
  const run = () => runDaemon(config, { token: TOKEN, redisUrl: redis.url, metricsPort: 0, role: 'all' });
  daemons = (await Promise.all([run(), run()])).map((r) => r.daemon);
  await waitFor('both daemons running', () => daemons.every((d) => d.logs.some((l) => l.msg === 'inventory-prober running')), 30_000);
}, 60_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  await fleet?.close();
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
