import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeDevice, startInventoryServer, type InventoryServer } from '../support/inventory-server.js';
import { startSnmpAgent, type SnmpAgent } from '../support/snmp-agent.js';
import { freePort, startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { startDaemon, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';

const TOKEN = 'fault-redis-token-71c2';
const COMMUNITY = 'fault-redis-community-3d';

interface Fleet {
  inventory: InventoryServer;
  agents: SnmpAgent[];
  snmpPort: number;
  close(): Promise<void>;
}

/** Devices 1..n on 127.0.<subnet>.<id>, each answering SNMP until told otherwise. */
async function startFleet(subnet: number, n: number): Promise<Fleet> {
  const addresses = Array.from({ length: n }, (_, i) => `127.0.${subnet}.${i + 1}`);
  const first = await startSnmpAgent({ address: addresses[0] as string, port: 0, community: COMMUNITY });
  const rest = await Promise.all(addresses.slice(1).map((address) => startSnmpAgent({ address, port: first.port, community: COMMUNITY })));
  const agents = [first, ...rest];
  const inventory = await startInventoryServer({
    token: TOKEN,
    devices: addresses.map((address, i) => fakeDevice(i + 1, { hostname: address, management_ip: address, snmp_community: COMMUNITY, status: true })),
  });
  return {
    inventory,
    agents,
    snmpPort: first.port,
    close: async () => {
      await Promise.all(agents.map((a) => a.close()));
      await inventory.close();
    },
  };
}

function runDaemon(fleet: Fleet, redisUrl: string, metricsPort: number, prefix: string): DaemonProcess {
  const config = writeConfig(`
inventory: { url: "${fleet.inventory.url}" }
redis: { prefix: ${prefix} }
schedule: { interval_seconds: 1, spread: 0.5 }
probes:
  up_when: all
  icmp: { count: 1, timeout_ms: 500 }
  snmp: { version: "2c", port: ${fleet.snmpPort}, timeout_ms: 300, retries: 0 }
status: { down_after: 2, up_after: 1, mass_outage: { enabled: false } }
metrics: { host: 127.0.0.1 }
`);
  return startDaemon(['run', '--config', config], { INVENTORY_TOKEN: TOKEN, REDIS_URL: redisUrl, METRICS_PORT: String(metricsPort) });
}

const sweepsDone = (d: DaemonProcess) => d.logs.filter((l) => l.msg === 'sweep done').length;
const alive = (d: DaemonProcess) => d.child.exitCode === null && d.child.signalCode === null;
const patchesOf = (inv: InventoryServer) => inv.patches.map((p) => ({ id: p.id, body: p.body }));

async function httpStatus(port: number, path: string): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}${path}`)).status;
}

/** A fault is held for a while on purpose; nothing about its length is asserted. */
const hold = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Redis killed and restarted while the daemon runs', () => {
  let redis: ThrowAwayRedis;
  let fleet: Fleet;
  let daemon: DaemonProcess;

  beforeAll(async () => {
    redis = await startRedis();
    fleet = await startFleet(81, 3);
    daemon = runDaemon(fleet, redis.url, await freePort(), 'fault-restart');
    await waitFor('two sweeps before the fault', () => sweepsDone(daemon) >= 2, 30_000);
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await fleet?.close();
    await redis?.stop();
  });

  it('keeps running through the outage, sweeps again after it, and PATCHes each device that went down around it exactly once', async () => {
    // Device 1 flips just before the outage; its PATCH is slow, so it is still in flight when Redis dies.
    fleet.inventory.setFault({ kind: 'delay', ms: 1500, method: 'PATCH', times: 1 });
    fleet.agents[0]?.setResponding(false);
    await waitFor('the PATCH of device 1 to be in flight', () => fleet.inventory.log.some((r) => r.method === 'PATCH'), 30_000);
    await redis.kill();
    // Device 2 goes down while Redis is gone.
    fleet.agents[1]?.setResponding(false);
    await waitFor('the daemon to notice Redis is gone', () => daemon.logs.some((l) => l.msg === 'redis unreachable, retrying'), 20_000);
    await hold(2_000);
    expect(alive(daemon)).toBe(true);

    const logsAtRestart = daemon.logs.length;
    await redis.restart();
    await waitFor('a PATCH for device 2', () => fleet.inventory.patches.some((p) => p.id === 2), 45_000);
    const sweepsAfterRestart = () => daemon.logs.slice(logsAtRestart).filter((l) => l.msg === 'sweep done').length;
    const sweepsAtPatch = sweepsAfterRestart();
    await waitFor('three more sweeps after the PATCH', () => sweepsAfterRestart() >= sweepsAtPatch + 3, 30_000);

    expect(alive(daemon)).toBe(true);
    expect(daemon.logs.some((l) => l.msg === 'redis reachable again')).toBe(true);
    // Every complaint about the outage is a JSON log line, none a bare stack trace.
    expect(daemon.stderr.join('')).toBe('');
    expect(patchesOf(fleet.inventory)).toEqual([
      { id: 1, body: { status: false } },
      { id: 2, body: { status: false } },
    ]);
    expect(fleet.inventory.devices.map((d) => d.status)).toEqual([false, false, true]);
  }, 120_000);
});

describe('Redis not up yet when the daemon starts', () => {
  let redis: ThrowAwayRedis;
  let fleet: Fleet;
  let daemon: DaemonProcess;
  let metricsPort: number;

  beforeAll(async () => {
    // Start and kill a throw-away server so its port is known, free, and can be brought up later.
    redis = await startRedis();
    await redis.kill();
    fleet = await startFleet(82, 2);
    metricsPort = await freePort();
    daemon = runDaemon(fleet, redis.url, metricsPort, 'fault-late');
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await fleet?.close();
    await redis?.stop();
  });

  it('stays up, says Redis is unreachable, and answers /healthz 200 but /readyz 503', async () => {
    await waitFor('the unreachable-Redis log line', () => daemon.logs.find((l) => l.msg === 'redis unreachable, retrying'), 20_000);
    await waitFor('the HTTP server', () => httpStatus(metricsPort, '/healthz').then((s) => s === 200, () => false), 20_000);
    expect(await httpStatus(metricsPort, '/readyz')).toBe(503);
    await hold(1_500);
    expect(alive(daemon)).toBe(true);
    expect(await httpStatus(metricsPort, '/readyz')).toBe(503);
    expect(sweepsDone(daemon)).toBe(0);
    expect(daemon.stderr.join('')).toBe('');
  }, 60_000);

  it('becomes ready and sweeps once Redis comes up', async () => {
    await redis.restart();
    await waitFor('/readyz 200', () => httpStatus(metricsPort, '/readyz').then((s) => s === 200), 30_000);
    await waitFor('two sweeps', () => sweepsDone(daemon) >= 2, 30_000);
    expect(alive(daemon)).toBe(true);
    expect(patchesOf(fleet.inventory)).toEqual([]);
  }, 60_000);
});
