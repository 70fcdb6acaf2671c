import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_QUEUE, type ProbeJobData } from '../../src/queue/jobs.js';
import type { InventoryServer } from '../support/inventory-server.js';
import type { SnmpAgent } from '../support/snmp-agent.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { metricValue, waitFor, writeConfig } from '../support/daemon.js';
import { daemonYaml, loopbackAddresses, runDaemon, startFleet, type Fleet, type RunningDaemon } from '../support/fleet.js';

const TOKEN = 'fault-worker-token-5e19';
const COMMUNITY = 'fault-worker-community-8a';
const PREFIX = 'fault-kill';
const FLEET = 10;
const GOING_DOWN = [2, 5, 8];

type Proc = RunningDaemon;

let redis: ThrowAwayRedis;
let fleet: Fleet;
let inventory: InventoryServer;
let agents: SnmpAgent[] = [];
let queue: Queue<ProbeJobData>;
let scheduler: Proc;
let workerA: Proc;
let workerB: Proc;

const startRole = (role: 'scheduler' | 'worker', configFile: string): Promise<Proc> => runDaemon(configFile, { token: TOKEN, redisUrl: redis.url, role });

const checksBy = (p: Proc) => metricValue(p.metricsPort, 'inventory_prober_checks_total').catch(() => 0);
const sweepsDone = () => scheduler.daemon.logs.filter((l) => l.msg === 'sweep done').length;
const alive = (p: Proc) => p.daemon.child.exitCode === null && p.daemon.child.signalCode === null;

beforeAll(async () => {
  redis = await startRedis();
  fleet = await startFleet({ token: TOKEN, community: COMMUNITY, addresses: loopbackAddresses(83, FLEET) });
  ({ inventory, agents } = fleet);
  // A silent agent holds its probe for the whole SNMP timeout (as long as the cycle allows), so jobs are in flight when the worker dies.
  const site = { inventoryUrl: inventory.url, prefix: PREFIX, snmpPort: fleet.snmpPort };
  const config = writeConfig(daemonYaml(site, { probes: { snmp: { timeout_ms: 1000 } }, status: { mass_outage: { enabled: false } } }));
  queue = new Queue<ProbeJobData>(PROBE_QUEUE, { connection: { host: '127.0.0.1', port: redis.port }, prefix: PREFIX });
  scheduler = await startRole('scheduler', config);
  workerA = await startRole('worker', config);
  workerB = await startRole('worker', config);
  await waitFor('two rounds of checks', async () => (await checksBy(workerA)) + (await checksBy(workerB)) >= 2 * FLEET, 45_000);
}, 90_000);

afterAll(async () => {
  await Promise.all([scheduler, workerA, workerB].map((p) => p?.daemon.stop('SIGKILL')));
  await queue?.close();
  await fleet?.close();
  await redis?.stop();
});

describe('a worker process SIGKILLed while it holds probe jobs', () => {
  it('leaves its jobs to the other worker, and every device that went down is PATCHed exactly once', async () => {
    expect(inventory.patches).toEqual([]);
    for (const id of GOING_DOWN) agents[id - 1]?.setResponding(false);

    // BullMQ records the holding worker's name (host:pid) on each active job.
    const held = await waitFor(
      'worker A to hold the probe of a device that went down',
      async () =>
        (await queue.getActive()).find((job) => job.data.devices.some((d) => GOING_DOWN.includes(d.device.id)) && job.processedBy?.endsWith(`:${workerA.daemon.child.pid}`)),
      45_000,
    );
    workerA.daemon.child.kill('SIGKILL');
    expect(await workerA.daemon.exited).toBeNull();

    await waitFor('worker B to re-queue the dead worker\'s job', () => workerB.daemon.logs.find((l) => l.msg.startsWith('probe job stalled') && l.jobId === held.id), 60_000);
    await waitFor('a PATCH for every device that went down', () => GOING_DOWN.every((id) => inventory.patches.some((p) => p.id === id)), 60_000);
    const sweeps = sweepsDone();
    const checks = await checksBy(workerB);
    await waitFor('three more sweeps and a full round of checks', async () => sweepsDone() >= sweeps + 3 && (await checksBy(workerB)) >= checks + FLEET, 45_000);

    const patched = inventory.patches.map((p) => ({ id: p.id, body: p.body })).sort((a, b) => a.id - b.id);
    expect(patched).toEqual(GOING_DOWN.map((id) => ({ id, body: { status: false } })));
    expect(alive(scheduler)).toBe(true);
    expect(alive(workerB)).toBe(true);
  }, 180_000);
});
