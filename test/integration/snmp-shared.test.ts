import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, it, expect, vi } from 'vitest';
import { sharedSessions } from '../../src/probes/snmp-pool.js';
import { createSnmpProbe } from '../../src/probes/snmp.js';
import type { SnmpCredentials } from '../../src/probes/types.js';
import { startSnmpAgent, type SnmpAgent } from '../support/snmp-agent.js';

const COMMUNITY = 'sh4red-c0mmunity';
const V3 = { name: 'prober', authProtocol: 'sha', authKey: 'auth-key-s3cret', privProtocol: 'aes', privKey: 'priv-key-s3cret' } as const;
const FROZEN_MS = 1_700_000_000_000;
const ADDRESSES = ['127.0.7.1', '127.0.7.2', '127.0.7.3', '127.0.7.4', '127.0.7.5'];
/** Each agent's uptime tells its answers apart: 1000, 2000, … */
const uptimeOf = (address: string) => 1000 * (ADDRESSES.indexOf(address) + 1);

const v2c: SnmpCredentials = { version: '2c', community: COMMUNITY };
const v1: SnmpCredentials = { version: '1', community: COMMUNITY };
const v3: SnmpCredentials = { version: '3', user: V3.name, authProtocol: V3.authProtocol, authKey: V3.authKey, privProtocol: V3.privProtocol, privKey: V3.privKey };

let agents: SnmpAgent[] = [];
let port = 0;

const openFds = () => readdirSync('/proc/self/fd').length;
const budget = () => AbortSignal.timeout(10_000);

function sharedProbe(opts: { timeoutMs?: number; maxInFlight?: number } = {}) {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const sessions = sharedSessions({ port, timeoutMs, retries: 0, maxInFlight: opts.maxInFlight });
  return { sessions, probe: createSnmpProbe({ port, timeoutMs, retries: 0, sessions }) };
}

beforeAll(async () => {
  const first = await startSnmpAgent({ address: ADDRESSES[0] as string, port: 0, community: COMMUNITY, v3User: V3, now: () => FROZEN_MS });
  port = first.port;
  const rest = await Promise.all(ADDRESSES.slice(1).map((address) => startSnmpAgent({ address, port, community: COMMUNITY, v3User: V3, now: () => FROZEN_MS })));
  agents = [first, ...rest];
  for (const agent of agents) agent.setUptimeTicks(uptimeOf(agent.address));
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
});

describe('shared SNMP engine against real agents on several loopback addresses', () => {
  it('reads each agent\'s own uptime for many targets at once, through a bounded queue', async () => {
    const { sessions, probe } = sharedProbe({ maxInFlight: 8 });
    try {
      const targets = Array.from({ length: 300 }, (_, i) => ADDRESSES[i % ADDRESSES.length] as string);
      const results = await Promise.all(targets.map((address, i) => probe.run({ deviceId: i, address, snmp: i % 2 ? v2c : v1 }, budget())));
      results.forEach((result, i) => expect(result).toMatchObject({ outcome: 'up', reason: 'ok', uptimeTicks: uptimeOf(targets[i] as string) }));
      expect(sessions.stats()).toEqual({ inFlight: 0, queued: 0, sockets: 1 });
    } finally {
      await probe.close?.();
    }
  });

  it('is down by timeout with a wrong community while the right one answers alongside', async () => {
    const { probe } = sharedProbe({ timeoutMs: 300 });
    try {
      const [wrong, right] = await Promise.all([
        probe.run({ deviceId: 1, address: '127.0.7.1', snmp: { version: '2c', community: 'wrong-community' } }, budget()),
        probe.run({ deviceId: 2, address: '127.0.7.1', snmp: v2c }, budget()),
      ]);
      expect(wrong).toMatchObject({ outcome: 'down', reason: 'timeout' });
      expect(right).toMatchObject({ outcome: 'up', uptimeTicks: uptimeOf('127.0.7.1') });
    } finally {
      await probe.close?.();
    }
  });

  it('gives two GETs that drew the same request id each its own answer', async () => {
    const { probe } = sharedProbe();
    // net-snmp draws request ids from Math.random; make the first two draws equal.
    const random = vi.spyOn(Math, 'random').mockReturnValueOnce(0.5).mockReturnValueOnce(0.5);
    try {
      const [a, b] = await Promise.all([
        probe.run({ deviceId: 1, address: '127.0.7.2', snmp: v2c }, budget()),
        probe.run({ deviceId: 2, address: '127.0.7.3', snmp: v2c }, budget()),
      ]);
      expect(a).toMatchObject({ outcome: 'up', uptimeTicks: uptimeOf('127.0.7.2') });
      expect(b).toMatchObject({ outcome: 'up', uptimeTicks: uptimeOf('127.0.7.3') });
    } finally {
      random.mockRestore();
      await probe.close?.();
    }
  });

  it('still speaks SNMPv3, through a session per probe', async () => {
    const { probe } = sharedProbe();
    try {
      const result = await probe.run({ deviceId: 1, address: '127.0.7.4', snmp: v3 }, budget());
      expect(result).toMatchObject({ outcome: 'up', uptimeTicks: uptimeOf('127.0.7.4') });
    } finally {
      await probe.close?.();
    }
  });

  it('frees the slot of a GET whose caller gave up, so the queue moves on', async () => {
    const { sessions, probe } = sharedProbe({ timeoutMs: 5000, maxInFlight: 1 });
    const silent = agents[4] as SnmpAgent;
    silent.setResponding(false);
    try {
      const giveUp = new AbortController();
      const abandoned = probe.run({ deviceId: 1, address: silent.address, snmp: v2c }, giveUp.signal);
      const waiting = probe.run({ deviceId: 2, address: '127.0.7.1', snmp: v2c }, budget());
      expect(sessions.stats()).toMatchObject({ inFlight: 1, queued: 1 });
      giveUp.abort();
      expect(await abandoned).toMatchObject({ outcome: 'error', reason: 'aborted' });
      expect(await waiting).toMatchObject({ outcome: 'up' });
      expect(sessions.stats()).toMatchObject({ inFlight: 0, queued: 0 });
    } finally {
      silent.setResponding(true);
      await probe.close?.();
    }
  });

  it('keeps one socket however many probes run, and releases it on close', async () => {
    const before = openFds();
    const { sessions, probe } = sharedProbe();
    await probe.run({ deviceId: 0, address: '127.0.7.1', snmp: v2c }, budget());
    const afterFirst = openFds();
    for (let wave = 0; wave < 5; wave++) {
      await Promise.all(Array.from({ length: 200 }, (_, i) => probe.run({ deviceId: i, address: ADDRESSES[i % 5] as string, snmp: v2c }, budget())));
    }
    expect(openFds()).toBe(afterFirst);
    await probe.close?.();
    expect(openFds()).toBe(before);
    expect(sessions.stats().sockets).toBe(0);
    expect(await probe.run({ deviceId: 1, address: '127.0.7.1', snmp: v2c }, budget())).toMatchObject({ outcome: 'error', reason: 'socket' });
  });
});
