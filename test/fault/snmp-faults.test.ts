import dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeDevice, startInventoryServer, type InventoryServer } from '../support/inventory-server.js';
import type { SnmpAgent } from '../support/snmp-agent.js';
import { freePort, startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { metricValue, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml, runDaemon, startAgents, type SnmpOverrides } from '../support/fleet.js';

/**
 * SNMP-side faults: a community the agent rejects, an agent slower than the timeout, an SNMPv3
 * key that does not match. Each is an SNMP failure with a reason in the flip log line, never a
 * crash, and probing keeps the daemon's open file descriptors flat (no leaked sockets).
 */

const TOKEN = 'fault-snmp-token-45';
const COMMUNITY = 'fault-snmp-community-45';
const WRONG_COMMUNITY = 'fault-snmp-wrong-45';
const V3 = { name: 'prober45', authProtocol: 'sha', privProtocol: 'aes', authKey: 'right-auth-key-45', privKey: 'right-priv-key-45' } as const;
const WRONG_AUTH_KEY = 'wrong-auth-key-45';

interface DelayProxy {
  close(): Promise<void>;
}

/** A UDP relay on `address:port` that holds every request `delayMs` before passing it to the agent. */
async function startDelayProxy(address: string, port: number, agent: SnmpAgent, delayMs: number): Promise<DelayProxy> {
  const socket = dgram.createSocket('udp4');
  const pending = new Set<NodeJS.Timeout>();
  socket.on('message', (msg, client) => {
    const timer = setTimeout(() => {
      pending.delete(timer);
      const upstream = dgram.createSocket('udp4');
      const giveUp = setTimeout(() => upstream.close(), 2_000);
      upstream.once('message', (answer) => {
        clearTimeout(giveUp);
        socket.send(answer, client.port, client.address, () => upstream.close());
      });
      upstream.send(msg, agent.port, agent.address);
    }, delayMs);
    pending.add(timer);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => resolve());
  });
  return {
    close: () => {
      for (const t of pending) clearTimeout(t);
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

interface Rig {
  redis: ThrowAwayRedis;
  inventory: InventoryServer;
  agents: SnmpAgent[];
  proxies: DelayProxy[];
  daemon: DaemonProcess;
  metricsPort: number;
}

async function stopRig(rig: Partial<Rig>): Promise<void> {
  await rig.daemon?.stop('SIGKILL');
  await Promise.all([...(rig.proxies ?? []), ...(rig.agents ?? [])].map((c) => c.close()));
  await rig.inventory?.close();
  await rig.redis?.stop();
}

async function daemonFor(rig: Omit<Rig, 'daemon'>, snmpPort: number, snmp: SnmpOverrides, env: Record<string, string>): Promise<DaemonProcess> {
  const config = writeConfig(daemonYaml({ inventoryUrl: rig.inventory.url, prefix: 'fault-snmp', snmpPort }, { probes: { snmp } }));
  const started = await runDaemon(config, { token: TOKEN, redisUrl: rig.redis.url, metricsPort: rig.metricsPort, env: { LOG_LEVEL: 'debug', ...env } });
  return started.daemon;
}

const flipOf = (daemon: DaemonProcess, id: number) => daemon.logs.find((l) => l.msg === 'device flipped' && l.deviceId === id && l.to === 'down');
const neverCrashed = (daemon: DaemonProcess) => {
  expect(daemon.child.exitCode).toBeNull();
  expect(daemon.logs.filter((l) => l.level === 'fatal' || l.msg === 'probe job failed' || String(l.reason).includes('probe-crashed'))).toEqual([]);
};

describe('SNMP v2c faults: a wrong community and a slow agent', () => {
  const rig: Partial<Rig> = {};

  beforeAll(async () => {
    rig.redis = await startRedis();
    rig.agents = await startAgents(['127.0.45.1', '127.0.45.2', '127.0.45.103'], { community: COMMUNITY });
    const [good, , slow] = rig.agents as [SnmpAgent, SnmpAgent, SnmpAgent];
    // Device 3's answers arrive 600 ms after the question: twice the 300 ms timeout.
    rig.proxies = [await startDelayProxy('127.0.45.3', good.port, slow, 600)];
    rig.inventory = await startInventoryServer({
      token: TOKEN,
      devices: [
        fakeDevice(1, { hostname: '127.0.45.1', management_ip: '127.0.45.1', snmp_community: COMMUNITY }),
        fakeDevice(2, { hostname: '127.0.45.2', management_ip: '127.0.45.2', snmp_community: WRONG_COMMUNITY }),
        fakeDevice(3, { hostname: '127.0.45.3', management_ip: '127.0.45.3', snmp_community: COMMUNITY }),
      ],
    });
    rig.metricsPort = await freePort();
    rig.daemon = await daemonFor(rig as Rig, good.port, {}, { SNMP_COMMUNITY: COMMUNITY });
    await waitFor('devices 2 and 3 to flip down', () => flipOf(rig.daemon as DaemonProcess, 2) && flipOf(rig.daemon as DaemonProcess, 3), 60_000);
  }, 90_000);

  afterAll(() => stopRig(rig));

  it('a community the agent rejects flips the device Down with an SNMP reason', () => {
    const flip = flipOf(rig.daemon as DaemonProcess, 2);
    expect(String(flip?.reason)).toMatch(/^snmp: timeout \(no answer after 1 × 300 ms\)$/);
    expect(rig.daemon?.raw()).not.toContain(WRONG_COMMUNITY);
  });

  it('an agent slower than the timeout flips the device Down with an SNMP reason', () => {
    expect(String(flipOf(rig.daemon as DaemonProcess, 3)?.reason)).toMatch(/^snmp: timeout/);
  });

  it('the healthy device stays Up, and nothing crashed', async () => {
    expect(rig.daemon?.logs.filter((l) => l.msg === 'device flipped' && l.deviceId === 1)).toEqual([]);
    expect(await metricValue(rig.metricsPort as number, 'inventory_prober_probes_total', { probe: 'snmp', outcome: 'error' })).toBe(0);
    neverCrashed(rig.daemon as DaemonProcess);
  });

  it('keeps its open file descriptors flat over 20 cycles of failing probes (no leaked sockets)', async () => {
    const daemon = rig.daemon as DaemonProcess;
    const port = rig.metricsPort as number;
    const pid = daemon.child.pid as number;
    const sweeps = () => metricValue(port, 'inventory_prober_sweeps_total', { result: 'ok' });
    const warm = await sweeps();
    await waitFor('three warm-up cycles', async () => (await sweeps()) >= warm + 3, 30_000);
    const before = openFds(pid);
    const start = await sweeps();
    const downChecks = await metricValue(port, 'inventory_prober_checks_total', { outcome: 'down' });
    await waitFor('20 more cycles', async () => (await sweeps()) >= start + 20, 90_000);
    const after = openFds(pid);
    // Two failing devices per cycle: 40 sockets would have leaked without the close.
    expect(await metricValue(port, 'inventory_prober_checks_total', { outcome: 'down' })).toBeGreaterThanOrEqual(downChecks + 30);
    expect(after - before).toBeLessThanOrEqual(6);
    neverCrashed(daemon);
  }, 120_000);
});

describe('SNMP v3 fault: a wrong authentication key', () => {
  const rig: Partial<Rig> = {};

  beforeAll(async () => {
    rig.redis = await startRedis();
    // Device 4's agent holds the real keys; device 5's agent was set up with the key the prober has.
    rig.agents = await startAgents(['127.0.45.4', '127.0.45.5'], (_, i) => ({ v3User: i === 0 ? V3 : { ...V3, authKey: WRONG_AUTH_KEY } }));
    rig.proxies = [];
    rig.inventory = await startInventoryServer({
      token: TOKEN,
      devices: [4, 5].map((id) => fakeDevice(id, { hostname: `127.0.45.${id}`, management_ip: `127.0.45.${id}` })),
    });
    rig.metricsPort = await freePort();
    rig.daemon = await daemonFor(
      rig as Rig,
      (rig.agents[0] as SnmpAgent).port,
      { version: '3', v3: { user: V3.name, auth_protocol: 'sha', priv_protocol: 'aes' } },
      { SNMP_V3_AUTH_KEY: WRONG_AUTH_KEY, SNMP_V3_PRIV_KEY: V3.privKey },
    );
    await waitFor('device 4 to flip down', () => flipOf(rig.daemon as DaemonProcess, 4), 60_000);
  }, 90_000);

  afterAll(() => stopRig(rig));

  it('flips the device whose agent rejects the key Down, with an SNMP reason, and never logs a key', () => {
    const daemon = rig.daemon as DaemonProcess;
    // net-snmp's agent drops a request that fails authentication (a timeout here); an agent that
    // sends RFC 3414's usmStatsWrongDigests report gives `wrong-digest` instead.
    expect(String(flipOf(daemon, 4)?.reason)).toMatch(/^snmp: (wrong-digest|timeout)/);
    for (const key of [WRONG_AUTH_KEY, V3.authKey, V3.privKey]) expect(daemon.raw()).not.toContain(key);
  });

  it('keeps the device whose agent accepts the key Up, and nothing crashed', async () => {
    const daemon = rig.daemon as DaemonProcess;
    expect(await metricValue(rig.metricsPort as number, 'inventory_prober_probes_total', { probe: 'snmp', outcome: 'up' })).toBeGreaterThan(0);
    expect(daemon.logs.filter((l) => l.msg === 'device flipped' && l.deviceId === 5)).toEqual([]);
    neverCrashed(daemon);
  });
});
