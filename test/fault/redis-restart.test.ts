import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InventoryServer } from '../support/inventory-server.js';
import { freePort, startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml, loopbackAddresses, runDaemon, startFleet, type Fleet } from '../support/fleet.js';

const TOKEN = 'fault-redis-token-71c2';
const COMMUNITY = 'fault-redis-community-3d';

/** Devices 1..n on 127.0.<subnet>.<id>, each answering SNMP until told otherwise. */
const fleetOn = (subnet: number, n: number) => startFleet({ token: TOKEN, community: COMMUNITY, addresses: loopbackAddresses(subnet, n) });

async function daemonOn(fleet: Fleet, redisUrl: string, metricsPort: number, prefix: string): Promise<DaemonProcess> {
  const config = writeConfig(
    daemonYaml({ inventoryUrl: fleet.inventory.url, prefix, snmpPort: fleet.snmpPort }, { status: { mass_outage: { enabled: false } } }),
  );
  return (await runDaemon(config, { token: TOKEN, redisUrl, metricsPort })).daemon;
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
    fleet = await fleetOn(81, 3);
    daemon = await daemonOn(fleet, redis.url, await freePort(), 'fault-restart');
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
    fleet = await fleetOn(82, 2);
    metricsPort = await freePort();
    daemon = await daemonOn(fleet, redis.url, metricsPort, 'fault-late');
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
