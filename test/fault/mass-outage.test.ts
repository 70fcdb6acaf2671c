import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InventoryServer } from '../support/inventory-server.js';
import type { SnmpAgent } from '../support/snmp-agent.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { metricValue, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml, loopbackAddresses, runDaemon, startFleet, type Fleet } from '../support/fleet.js';

/**
 * When most of the fleet goes silent at once, the likeliest culprit is the prober's own network:
 * the mass-outage guard holds those Down flips (loudly), and lets real ones through once the
 * failing share drops. With the guard off, every silent device flips.
 */

const TOKEN = 'fault-mass-token-44';
const COMMUNITY = 'fault-mass-community-44';
const FLEET = 20;
const SILENCED = 15;
const STILL_SILENT = [14, 15];

let redis: ThrowAwayRedis;
let fleet: Fleet;
let inventory: InventoryServer;
let agents: SnmpAgent[] = [];
let daemon: DaemonProcess | undefined;
let metricsPort: number;

const metric = (name: string, labels: Record<string, string> = {}) => metricValue(metricsPort, `inventory_prober_${name}`, labels).catch(() => 0);
const downPatches = () => inventory.patches.filter((p) => (p.body as { status?: unknown }).status === false);
const downFlips = (d: DaemonProcess) => d.logs.filter((l) => l.msg === 'device flipped' && l.to === 'down');
const agent = (id: number) => agents[id - 1] as SnmpAgent;

/** A daemon with a fresh Redis prefix, against a fleet that is all Up and all answering. */
async function startFleetDaemon(prefix: string, guardEnabled: boolean): Promise<DaemonProcess> {
  for (const a of agents) a.setResponding(true);
  for (const d of inventory.devices) d.status = true;
  inventory.patches.length = 0;
  const site = { inventoryUrl: inventory.url, prefix, snmpPort: fleet.snmpPort };
  const config = writeConfig(daemonYaml(site, { status: { mass_outage: { enabled: guardEnabled, share: 0.5, min_devices: 10 } } }));
  const started = await runDaemon(config, { token: TOKEN, redisUrl: redis.url, env: { SNMP_COMMUNITY: COMMUNITY, LOG_LEVEL: 'info' } });
  metricsPort = started.metricsPort;
  await waitFor('every device checked twice', async () => (await metric('checks_total', { outcome: 'up' })) >= 2 * FLEET, 60_000);
  return started.daemon;
}

beforeAll(async () => {
  redis = await startRedis();
  fleet = await startFleet({ token: TOKEN, community: COMMUNITY, addresses: loopbackAddresses(44, FLEET) });
  ({ inventory, agents } = fleet);
}, 60_000);

afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

afterAll(async () => {
  await fleet?.close();
  await redis?.stop();
});

describe('mass outage guard', () => {
  it('holds the Down flips of 15 of 20 devices going silent at once, then lets the 2 real ones through', async () => {
    const d = (daemon = await startFleetDaemon('fault-mass-on', true));
    for (let id = 1; id <= SILENCED; id++) agent(id).setResponding(false);

    await waitFor('Down flips held for most silent devices', () => new Set(d.logs.filter((l) => l.msg.startsWith('Down flip held')).map((l) => l.deviceId)).size >= 10, 30_000);
    const held = d.logs.find((l) => l.msg.startsWith('Down flip held'));
    expect(held).toMatchObject({ level: 'error' });
    expect(await metric('flips_held')).toBeGreaterThan(0);
    expect(await metric('flips_held_total')).toBeGreaterThan(0);
    expect(downFlips(d)).toEqual([]);
    expect(downPatches()).toEqual([]);

    for (let id = 1; id <= SILENCED; id++) if (!STILL_SILENT.includes(id)) agent(id).setResponding(true);
    await waitFor('the two devices still silent to be PATCHed down', () => STILL_SILENT.every((id) => downPatches().some((p) => p.id === id)), 60_000);
    const checks = await metric('checks_total');
    await waitFor('three more cycles', async () => (await metric('checks_total')) >= checks + 3 * FLEET, 30_000);

    expect(downPatches().map((p) => p.id).sort((a, b) => a - b)).toEqual(STILL_SILENT);
    expect(downFlips(d).map((f) => Number(f.deviceId)).sort((a, b) => a - b)).toEqual(STILL_SILENT);
    expect(inventory.devices.filter((dev) => dev.status === false).map((dev) => dev.id)).toEqual(STILL_SILENT);
  }, 120_000);

  it('with status.mass_outage.enabled false, all 15 silent devices flip Down', async () => {
    const d = (daemon = await startFleetDaemon('fault-mass-off', false));
    for (let id = 1; id <= SILENCED; id++) agent(id).setResponding(false);

    await waitFor('15 PATCHes to status false', () => downPatches().length >= SILENCED, 60_000);
    const checks = await metric('checks_total');
    await waitFor('two more cycles', async () => (await metric('checks_total')) >= checks + 2 * FLEET, 30_000);

    const silenced = Array.from({ length: SILENCED }, (_, i) => i + 1);
    expect(downPatches().map((p) => p.id).sort((a, b) => a - b)).toEqual(silenced);
    expect(downFlips(d)).toHaveLength(SILENCED);
    expect(d.logs.filter((l) => l.msg.startsWith('Down flip held'))).toEqual([]);
  }, 120_000);
});
