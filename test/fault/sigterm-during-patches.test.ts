import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InventoryServer } from '../support/inventory-server.js';
import type { SnmpAgent } from '../support/snmp-agent.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml, loopbackAddresses, runDaemon, startFleet, type Fleet } from '../support/fleet.js';

const TOKEN = 'fault-sigterm-token-c4a0';
const COMMUNITY = 'fault-sigterm-community-17';
const FLEET = 6;
const GOING_DOWN = [1, 2, 3, 4];

let redis: ThrowAwayRedis;
let fleet: Fleet;
let inventory: InventoryServer;
let agents: SnmpAgent[] = [];
let configFile: string;
const daemons: DaemonProcess[] = [];

async function startOne(): Promise<DaemonProcess> {
  const { daemon } = await runDaemon(configFile, { token: TOKEN, redisUrl: redis.url, metricsPort: 0 });
  daemons.push(daemon);
  return daemon;
}

const sweepsDone = (d: DaemonProcess) => d.logs.filter((l) => l.msg === 'sweep done').length;
/** PATCH requests the server has received, finished or not (the server records a PATCH only once its delay is over). */
const patchRequests = () => inventory.log.filter((r) => r.method === 'PATCH').length;
const patchCount = (id: number) => inventory.patches.filter((p) => p.id === id).length;

beforeAll(async () => {
  redis = await startRedis();
  fleet = await startFleet({ token: TOKEN, community: COMMUNITY, addresses: loopbackAddresses(84, FLEET) });
  ({ inventory, agents } = fleet);
  const site = { inventoryUrl: inventory.url, prefix: 'fault-term', snmpPort: fleet.snmpPort };
  configFile = writeConfig(daemonYaml(site, { status: { mass_outage: { enabled: false } }, shutdown: { grace_seconds: 10 } }));
}, 60_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  await fleet?.close();
  await redis?.stop();
});

describe('SIGTERM while status PATCHes are in flight', () => {
  it('exits 0 after letting the in-flight PATCHes finish', async () => {
    const first = await startOne();
    await waitFor('two sweeps of a steady fleet', () => sweepsDone(first) >= 2, 30_000);
    expect(inventory.patches).toEqual([]);

    inventory.setFault({ kind: 'delay', ms: 1500, method: 'PATCH' });
    for (const id of GOING_DOWN) agents[id - 1]?.setResponding(false);
    await waitFor('a PATCH to be in flight', () => patchRequests() > inventory.patches.length, 30_000);
    first.child.kill('SIGTERM');

    expect(await first.exited).toBe(0);
    expect(first.logs.some((l) => l.msg === 'shutdown complete')).toBe(true);
    // Nothing the daemon sent was left half-done: every PATCH it started has completed.
    expect(inventory.patches.length).toBe(patchRequests());
  }, 60_000);

  it('after a restart, every flip ends written exactly once in total: none lost, none duplicated', async () => {
    const second = await startOne();
    await waitFor('a PATCH for every device that went down', () => GOING_DOWN.every((id) => patchCount(id) > 0), 45_000);
    const sweeps = sweepsDone(second);
    await waitFor('three more sweeps', () => sweepsDone(second) >= sweeps + 3, 30_000);
    // Any PATCH started in those sweeps gets the time to land before counting.
    await waitFor('no PATCH in flight', () => inventory.patches.length === patchRequests(), 10_000);

    const counts = Object.fromEntries(Array.from({ length: FLEET }, (_, i) => [i + 1, patchCount(i + 1)]));
    expect(counts).toEqual({ 1: 1, 2: 1, 3: 1, 4: 1, 5: 0, 6: 0 });
    expect(inventory.patches.every((p) => JSON.stringify(p.body) === '{"status":false}')).toBe(true);
    expect(second.child.exitCode).toBeNull();
  }, 90_000);
});
