import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeDevice, startInventoryServer, type InventoryServer } from '../support/inventory-server.js';
import { startSnmpAgent, type SnmpAgent } from '../support/snmp-agent.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { startDaemon, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';

const TOKEN = 'fault-sigterm-token-c4a0';
const COMMUNITY = 'fault-sigterm-community-17';
const FLEET = 6;
const GOING_DOWN = [1, 2, 3, 4];
const address = (id: number) => `127.0.84.${id}`;

let redis: ThrowAwayRedis;
let inventory: InventoryServer;
let agents: SnmpAgent[] = [];
let configFile: string;
const daemons: DaemonProcess[] = [];

function startOne(): DaemonProcess {
  const daemon = startDaemon(['run', '--config', configFile], { INVENTORY_TOKEN: TOKEN, REDIS_URL: redis.url, METRICS_PORT: '0' });
  daemons.push(daemon);
  return daemon;
}

const sweepsDone = (d: DaemonProcess) => d.logs.filter((l) => l.msg === 'sweep done').length;
/** PATCH requests the server has received, finished or not (the server records a PATCH only once its delay is over). */
const patchRequests = () => inventory.log.filter((r) => r.method === 'PATCH').length;
const patchCount = (id: number) => inventory.patches.filter((p) => p.id === id).length;

beforeAll(async () => {
  redis = await startRedis();
  const ids = Array.from({ length: FLEET }, (_, i) => i + 1);
  const first = await startSnmpAgent({ address: address(1), port: 0, community: COMMUNITY });
  agents = [first, ...(await Promise.all(ids.slice(1).map((id) => startSnmpAgent({ address: address(id), port: first.port, community: COMMUNITY }))))];
  inventory = await startInventoryServer({
    token: TOKEN,
    devices: ids.map((id) => fakeDevice(id, { hostname: address(id), management_ip: address(id), snmp_community: COMMUNITY, status: true })),
  });
  configFile = writeConfig(`
inventory: { url: "${inventory.url}" }
redis: { prefix: fault-term }
schedule: { interval_seconds: 1, spread: 0.5 }
probes:
  up_when: all
  icmp: { count: 1, timeout_ms: 500 }
  snmp: { version: "2c", port: ${first.port}, timeout_ms: 300, retries: 0 }
status: { down_after: 2, up_after: 1, mass_outage: { enabled: false } }
metrics: { host: 127.0.0.1 }
shutdown: { grace_seconds: 10 }
`);
}, 60_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  await Promise.all(agents.map((a) => a.close()));
  await inventory?.close();
  await redis?.stop();
});

describe('SIGTERM while status PATCHes are in flight', () => {
  it('exits 0 after letting the in-flight PATCHes finish', async () => {
    const first = startOne();
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
    const second = startOne();
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
