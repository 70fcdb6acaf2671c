import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_QUEUE, type ProbeJobData } from '../../src/queue/jobs.js';
import type { Role } from '../../src/config/types.js';
import { metricValue, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml, runDaemon, startFleet, type Fleet } from '../support/fleet.js';
import type { InventoryServer } from '../support/inventory-server.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import type { SnmpAgent } from '../support/snmp-agent.js';

const TOKEN = 'roles-token-7e21';
const COMMUNITY = 'roles-community-4c9a';
const ADDRESSES = ['127.0.40.1', '127.0.40.2', '127.0.40.3', '127.0.40.4'];
const DEVICE = 2;

let redis: ThrowAwayRedis;
let fleet: Fleet;
let inventory: InventoryServer;
let agents: SnmpAgent[] = [];
let config: string;
const daemons: DaemonProcess[] = [];

const configFor = (prefix: string) =>
  writeConfig(
    // One device per job and one check at a time per process, so both workers take a share of every cycle.
    daemonYaml({ inventoryUrl: inventory.url, prefix, snmpPort: fleet.snmpPort }, { worker: { concurrency: 1, batch_size: 1 } }),
  );

async function start(role: Role, cfg: string): Promise<{ daemon: DaemonProcess; port: number }> {
  const { daemon, metricsPort: port } = await runDaemon(cfg, { token: TOKEN, redisUrl: redis.url, role });
  daemons.push(daemon);
  return { daemon, port };
}

const checks = (port: number, labels: Record<string, string> = {}) => metricValue(port, 'inventory_prober_checks_total', labels).catch(() => 0);
const patches = () => inventory.patches.map((p) => ({ id: p.id, body: p.body }));

beforeAll(async () => {
  redis = await startRedis();
  fleet = await startFleet({ token: TOKEN, community: COMMUNITY, addresses: ADDRESSES });
  ({ inventory, agents } = fleet);
  config = configFor('roles');
}, 30_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  await fleet?.close();
  await redis?.stop();
});

describe('roles as separate processes (built CLI, one Redis)', () => {
  it('one scheduler and two workers: one PATCH per flip; a killed worker\'s share is taken over', async () => {
    await start('scheduler', config);
    const workers = [await start('worker', config), await start('worker', config)];
    await waitFor('both workers to check devices', async () => (await Promise.all(workers.map((w) => checks(w.port)))).every((n) => n > 0), 30_000);

    agents[DEVICE - 1]?.setResponding(false);
    await waitFor('PATCH status:false', () => inventory.patches.length > 0, 30_000);
    const downChecks = async () => (await Promise.all(workers.map((w) => checks(w.port, { outcome: 'down' })))).reduce((a, b) => a + b, 0);
    const seen = await downChecks();
    await waitFor('two more down checks of the device', async () => (await downChecks()) >= seen + 2, 20_000);
    expect(patches()).toEqual([{ id: DEVICE, body: { status: false } }]);

    // Kill a worker while it holds none of the device's work, so the test does not wait out a lock.
    const [victim, survivor] = workers as [(typeof workers)[0], (typeof workers)[0]];
    await killWhenIdleFor(victim.daemon, DEVICE);
    agents[DEVICE - 1]?.setResponding(true);
    await waitFor('PATCH status:true', () => inventory.patches.length > 1, 30_000);
    const after = await checks(survivor.port);
    await waitFor('three more cycles on the surviving worker', async () => (await checks(survivor.port)) >= after + 9, 20_000);

    expect(patches()).toEqual([
      { id: DEVICE, body: { status: false } },
      { id: DEVICE, body: { status: true } },
    ]);
    expect(inventory.devices.find((d) => d.id === DEVICE)?.status).toBe(true);
    expect(survivor.daemon.logs.some((l) => l.msg === 'device flipped' && l.deviceId === DEVICE && l.to === 'up')).toBe(true);
  }, 90_000);

  it('two --role all daemons on one Redis sweep each cycle exactly once between them', async () => {
    const cfg = configFor('pair');
    const pair = [await start('all', cfg), await start('all', cfg)];
    const sweepsDone = () => pair.flatMap((p) => p.daemon.logs.filter((l) => l.msg === 'sweep done'));
    await waitFor('five sweeps', () => sweepsDone().length >= 5, 30_000);
    await Promise.all(pair.map((p) => p.daemon.stop('SIGTERM')));

    const cycles = sweepsDone().map((l) => l.cycle);
    expect(new Set(cycles).size).toBe(cycles.length);
    // Losing a cycle to the other daemon is not a skipped sweep: only a cycle nobody swept may be reported skipped.
    const skipped = pair.flatMap((p) => p.daemon.logs.filter((l) => l.msg.startsWith('sweep skipped')).map((l) => l.cycle));
    expect(skipped.filter((cycle) => cycles.includes(cycle))).toEqual([]);
  }, 60_000);
});

/** SIGKILLs `daemon` at a moment no probe of `deviceId` is running anywhere. */
async function killWhenIdleFor(daemon: DaemonProcess, deviceId: number): Promise<void> {
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue<ProbeJobData>(PROBE_QUEUE, { connection, prefix: 'roles' });
  try {
    await waitFor('a moment the device is not being probed', async () => {
      const active = await queue.getActive();
      return active.every((job) => job.data.devices.every((d) => d.device.id !== deviceId));
    });
    await daemon.stop('SIGKILL');
  } finally {
    await queue.close();
    connection.disconnect();
  }
}
