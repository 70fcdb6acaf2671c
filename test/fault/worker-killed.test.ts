import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_QUEUE, type ProbeJobData } from '../../src/queue/jobs.js';
import { fakeDevice, startInventoryServer, type InventoryServer } from '../support/inventory-server.js';
import { startSnmpAgent, type SnmpAgent } from '../support/snmp-agent.js';
import { freePort, startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { metricValue, startDaemon, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';

const TOKEN = 'fault-worker-token-5e19';
const COMMUNITY = 'fault-worker-community-8a';
const PREFIX = 'fault-kill';
const FLEET = 10;
const GOING_DOWN = [2, 5, 8];
const address = (id: number) => `127.0.83.${id}`;

interface Proc {
  daemon: DaemonProcess;
  metricsPort: number;
}

let redis: ThrowAwayRedis;
let inventory: InventoryServer;
let agents: SnmpAgent[] = [];
let queue: Queue<ProbeJobData>;
let scheduler: Proc;
let workerA: Proc;
let workerB: Proc;

async function startRole(role: 'scheduler' | 'worker', configFile: string): Promise<Proc> {
  const metricsPort = await freePort();
  const daemon = startDaemon(['run', '--config', configFile, '--role', role], {
    INVENTORY_TOKEN: TOKEN,
    REDIS_URL: redis.url,
    METRICS_PORT: String(metricsPort),
  });
  return { daemon, metricsPort };
}

const checksBy = (p: Proc) => metricValue(p.metricsPort, 'inventory_prober_checks_total').catch(() => 0);
const sweepsDone = () => scheduler.daemon.logs.filter((l) => l.msg === 'sweep done').length;
const alive = (p: Proc) => p.daemon.child.exitCode === null && p.daemon.child.signalCode === null;

beforeAll(async () => {
  redis = await startRedis();
  const ids = Array.from({ length: FLEET }, (_, i) => i + 1);
  const first = await startSnmpAgent({ address: address(1), port: 0, community: COMMUNITY });
  agents = [first, ...(await Promise.all(ids.slice(1).map((id) => startSnmpAgent({ address: address(id), port: first.port, community: COMMUNITY }))))];
  inventory = await startInventoryServer({
    token: TOKEN,
    devices: ids.map((id) => fakeDevice(id, { hostname: address(id), management_ip: address(id), snmp_community: COMMUNITY, status: true })),
  });
  // A silent agent holds its probe for the whole SNMP timeout (as long as the cycle allows), so jobs are in flight when the worker dies.
  const config = writeConfig(`
inventory: { url: "${inventory.url}" }
redis: { prefix: ${PREFIX} }
schedule: { interval_seconds: 1, spread: 0.5 }
probes:
  up_when: all
  icmp: { count: 1, timeout_ms: 500 }
  snmp: { version: "2c", port: ${first.port}, timeout_ms: 1000, retries: 0 }
status: { down_after: 2, up_after: 1, mass_outage: { enabled: false } }
metrics: { host: 127.0.0.1 }
`);
  queue = new Queue<ProbeJobData>(PROBE_QUEUE, { connection: { host: '127.0.0.1', port: redis.port }, prefix: PREFIX });
  scheduler = await startRole('scheduler', config);
  workerA = await startRole('worker', config);
  workerB = await startRole('worker', config);
  await waitFor('two rounds of checks', async () => (await checksBy(workerA)) + (await checksBy(workerB)) >= 2 * FLEET, 45_000);
}, 90_000);

afterAll(async () => {
  await Promise.all([scheduler, workerA, workerB].map((p) => p?.daemon.stop('SIGKILL')));
  await queue?.close();
  await Promise.all(agents.map((a) => a.close()));
  await inventory?.close();
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
        (await queue.getActive()).find((job) => GOING_DOWN.includes(job.data.device.id) && job.processedBy?.endsWith(`:${workerA.daemon.child.pid}`)),
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
