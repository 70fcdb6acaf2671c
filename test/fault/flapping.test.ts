import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInventoryServer, type InventoryServer } from '../support/inventory-server.js';
import type { SnmpAgent } from '../support/snmp-agent.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { metricValue, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml, loopbackFleet, runDaemon, startAgents } from '../support/fleet.js';

/**
 * Hysteresis end to end, with the default thresholds (down_after 3, up_after 1). Each device's
 * SNMP agent sits behind a UDP gate that decides, request by request, whether the agent's answer
 * gets through. With snmp.retries 0 every check is exactly one GET, so "the nth check fails" is
 * deterministic, whatever the timing of the daemon's cycles.
 */

const TOKEN = 'fault-flap-token-43';
const COMMUNITY = 'fault-flap-community-43';

interface Gate {
  /** GETs seen so far. */
  readonly requests: number;
  close(): Promise<void>;
}

/** Listens on `address:port`; request n (1-based) is relayed to the agent when `passes(n)`, else dropped. */
async function startGate(address: string, port: number, agent: SnmpAgent, passes: (n: number) => boolean): Promise<Gate> {
  const socket = dgram.createSocket('udp4');
  let requests = 0;
  socket.on('message', (msg, client) => {
    requests++;
    if (!passes(requests)) return;
    const upstream = dgram.createSocket('udp4');
    const done = () => upstream.close();
    const timer = setTimeout(done, 2_000);
    upstream.once('message', (answer) => {
      clearTimeout(timer);
      socket.send(answer, client.port, client.address, done);
    });
    upstream.send(msg, agent.port, agent.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => resolve());
  });
  return {
    get requests() {
      return requests;
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

// Device 1 answers every other check; device 2 answers twice, then never again; device 3 loses one reply.
const PLANS: Record<number, (n: number) => boolean> = {
  1: (n) => n % 2 === 1,
  2: (n) => n <= 2,
  3: (n) => n !== 3,
};

let redis: ThrowAwayRedis;
let inventory: InventoryServer;
let agents: SnmpAgent[] = [];
const gates = new Map<number, Gate>();
let daemon: DaemonProcess;
let metricsPort: number;

const flipsOf = (id: number) => daemon.logs.filter((l) => l.msg === 'device flipped' && l.deviceId === id);
const gate = (id: number) => gates.get(id) as Gate;

beforeAll(async () => {
  redis = await startRedis();
  agents = await startAgents(['127.0.43.101', '127.0.43.102', '127.0.43.103'], { community: COMMUNITY });
  const snmpPort = (agents[0] as SnmpAgent).port;
  for (const id of [1, 2, 3]) gates.set(id, await startGate(`127.0.43.${id}`, snmpPort, agents[id - 1] as SnmpAgent, PLANS[id] as (n: number) => boolean));
  inventory = await startInventoryServer({ token: TOKEN, devices: loopbackFleet(['127.0.43.1', '127.0.43.2', '127.0.43.3'], COMMUNITY) });
  // No `status` section: the default thresholds are what this file is about.
  const config = writeConfig(daemonYaml({ inventoryUrl: inventory.url, prefix: 'fault-flap', snmpPort }, { status: undefined }));
  ({ daemon, metricsPort } = await runDaemon(config, { token: TOKEN, redisUrl: redis.url, env: { SNMP_COMMUNITY: COMMUNITY, LOG_LEVEL: 'debug' } }));
  // Device 2's flip needs checks 3, 4, 5 to fail; four more prove it flips only once.
  await waitFor('ten checks of every device', () => [1, 2, 3].every((id) => gate(id).requests >= 10), 90_000);
  // The tenth GET's verdict is recorded after its timeout: wait for it to be counted.
  await waitFor('the checks to be counted', async () => (await metricValue(metricsPort, 'inventory_prober_checks_total')) >= 30);
}, 120_000);

afterAll(async () => {
  await daemon?.stop('SIGKILL');
  await Promise.all([...gates.values()].map((g) => g.close()));
  await Promise.all(agents.map((a) => a.close()));
  await inventory?.close();
  await redis?.stop();
});

describe('flapping and hysteresis end to end (down_after 3, up_after 1)', () => {
  it('a device answering every other check never flips', () => {
    expect(flipsOf(1)).toEqual([]);
    expect(inventory.patches.filter((p) => p.id === 1)).toEqual([]);
  });

  it('a device that stays down flips exactly once and is PATCHed exactly once', async () => {
    await waitFor('the PATCH of device 2', () => inventory.patches.some((p) => p.id === 2), 30_000);
    expect(flipsOf(2).map((f) => [f.from, f.to])).toEqual([['up', 'down']]);
    expect(String(flipsOf(2)[0]?.reason)).toMatch(/snmp: timeout/);
    expect(inventory.patches.filter((p) => p.id === 2).map((p) => p.body)).toEqual([{ status: false }]);
    expect(inventory.devices.find((d) => d.id === 2)?.status).toBe(false);
  });

  it('a stable device never flips from one lost reply', () => {
    expect(flipsOf(3)).toEqual([]);
    expect(inventory.patches.filter((p) => p.id === 3)).toEqual([]);
  });

  it('the checks happened as planned: device 1 and 3 had down checks, none of which flipped them', async () => {
    // GETs 2, 4, … 10 of device 1, 3 … 10 of device 2, and 3 of device 3 were dropped.
    await waitFor('the dropped GETs counted as down checks', async () => (await metricValue(metricsPort, 'inventory_prober_checks_total', { outcome: 'down' })) >= 5 + 8 + 1);
    expect(await metricValue(metricsPort, 'inventory_prober_flips_total')).toBe(1);
  });
});
