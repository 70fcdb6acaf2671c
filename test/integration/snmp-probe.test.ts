import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import snmp from 'net-snmp';
import { createSnmpProbe, snmpOutcome, UsmReportError } from '../../src/probes/snmp.js';
import type { ProbeResult, SnmpCredentials } from '../../src/probes/types.js';
import { freePort } from '../support/redis-server.js';
import { startSnmpAgent, type SnmpAgent } from '../support/snmp-agent.js';

const COMMUNITY = 'n0t-public-c0mmunity';
const V3 = { name: 'prober', authProtocol: 'sha', authKey: 'auth-key-s3cret', privProtocol: 'aes', privKey: 'priv-key-s3cret' } as const;
const SECRETS = [COMMUNITY, V3.authKey, V3.privKey, 'wrong-community', 'wrong-auth-key'];
const FROZEN_MS = 1_700_000_000_000;

const v1: SnmpCredentials = { version: '1', community: COMMUNITY };
const v2c: SnmpCredentials = { version: '2c', community: COMMUNITY };
const v3: SnmpCredentials = { version: '3', user: V3.name, authProtocol: V3.authProtocol, authKey: V3.authKey, privProtocol: V3.privProtocol, privKey: V3.privKey };

let agent: SnmpAgent;
const seen: ProbeResult[] = [];

async function probe(credentials: SnmpCredentials, opts: { port?: number; address?: string; timeoutMs?: number; signal?: AbortSignal } = {}) {
  const snmpProbe = createSnmpProbe({ port: opts.port ?? agent.port, timeoutMs: opts.timeoutMs ?? 1000, retries: 0 });
  const result = await snmpProbe.run({ deviceId: 42, address: opts.address ?? '127.0.0.1', snmp: credentials }, opts.signal ?? AbortSignal.timeout(10_000));
  seen.push(result);
  return result;
}

// net-snmp exports this class at runtime; its typings declare only the interface.
const { RequestTimedOutError } = snmp as unknown as { RequestTimedOutError: new (message: string) => Error };

const openFds = () => readdirSync('/proc/self/fd').length;

beforeAll(async () => {
  agent = await startSnmpAgent({ address: '127.0.0.1', port: 0, community: COMMUNITY, v3User: V3, now: () => FROZEN_MS });
  agent.setUptimeTicks(123_456);
});

afterAll(async () => {
  await agent.close();
});

describe('SNMP probe against a real agent on 127.0.0.1', () => {
  it('reads sysUpTime over v1 with the right community', async () => {
    expect(await probe(v1)).toMatchObject({ kind: 'snmp', outcome: 'up', reason: 'ok', uptimeTicks: 123_456 });
  });

  it('reads sysUpTime over v2c with the right community', async () => {
    expect(await probe(v2c)).toMatchObject({ outcome: 'up', reason: 'ok', uptimeTicks: 123_456 });
  });

  it('reads sysUpTime over v3 authPriv with the right keys', async () => {
    expect(await probe(v3)).toMatchObject({ outcome: 'up', reason: 'ok', uptimeTicks: 123_456 });
  });

  it('gets no answer with a wrong community, so the device is down by timeout', async () => {
    const result = await probe({ version: '2c', community: 'wrong-community' }, { timeoutMs: 300 });
    expect(result).toMatchObject({ outcome: 'down', reason: 'timeout' });
  });

  it('is down with a wrong v3 auth key (the agent drops what it cannot authenticate)', async () => {
    const result = await probe({ ...v3, authKey: 'wrong-auth-key' }, { timeoutMs: 300 });
    expect(result).toMatchObject({ outcome: 'down', reason: 'timeout' });
  });

  it('is down with reason unknown-user when the agent reports the v3 user unknown', async () => {
    const result = await probe({ ...v3, user: 'stranger' }, { timeoutMs: 1000 });
    expect(result).toMatchObject({ outcome: 'down', reason: 'unknown-user' });
  });

  it('is down by timeout while the agent is bound but not answering', async () => {
    agent.setResponding(false);
    try {
      expect(await probe(v2c, { timeoutMs: 300 })).toMatchObject({ outcome: 'down', reason: 'timeout' });
    } finally {
      agent.setResponding(true);
    }
    expect(await probe(v2c)).toMatchObject({ outcome: 'up' });
  });

  it('is down when nobody listens on the port', async () => {
    const result = await probe(v2c, { port: await freePort(), timeoutMs: 300 });
    expect(result).toMatchObject({ outcome: 'down', reason: 'timeout' });
  });

  it('reports an abandoned GET as the prober\'s fault and closes its socket', async () => {
    agent.setResponding(false);
    const before = openFds();
    try {
      const controller = new AbortController();
      const pending = probe(v2c, { timeoutMs: 5000, signal: controller.signal });
      controller.abort();
      expect(await pending).toMatchObject({ outcome: 'error', reason: 'aborted' });
    } finally {
      agent.setResponding(true);
    }
    expect(openFds()).toBe(before);
  });

  it('leaves no UDP socket open after many probes, answered or timed out', async () => {
    await probe(v2c); // warm up lazily opened descriptors
    const before = openFds();
    for (let i = 0; i < 20; i++) await probe(i % 2 ? v3 : v2c);
    await probe({ version: '2c', community: 'wrong-community' }, { timeoutMs: 100 });
    expect(openFds()).toBe(before);
  });

  it('never puts a community or key into reason or detail', () => {
    expect(seen.length).toBeGreaterThan(5);
    const text = JSON.stringify(seen);
    for (const secret of SECRETS) expect(text).not.toContain(secret);
  });
});

describe('SNMP probe against an agent without sysUpTime', () => {
  it('counts a v2c noSuchObject as up without uptime: the agent answered', async () => {
    const bare = await startSnmpAgent({ address: '127.0.0.1', port: 0, community: COMMUNITY, omitUptime: true });
    try {
      const result = await probe(v2c, { port: bare.port });
      expect(result).toMatchObject({ outcome: 'up', reason: 'no-such-object' });
      expect(result.uptimeTicks).toBeUndefined();
    } finally {
      await bare.close();
    }
  });
});

describe('SNMP outcome of library failures', () => {
  const where = { probe: 'snmp' as const, deviceId: 42 };
  const opts = { timeoutMs: 2000, retries: 1 };
  const failed = (error: unknown) => snmpOutcome({ aborted: false, error, varbinds: [] }, where, opts);
  const systemError = (code: string) => Object.assign(new Error(`send ${code} ${COMMUNITY}`), { code });

  it('counts a v1 noSuchName as down: v1 reports refused access the same way', () => {
    expect(failed(new snmp.RequestFailedError('NoSuchName', snmp.ErrorStatus.NoSuchName))).toMatchObject({ outcome: 'down', reason: 'no-such-name' });
  });

  it('names the agent\'s error-status in the reason', () => {
    expect(failed(new snmp.RequestFailedError('x', snmp.ErrorStatus.AuthorizationError))).toMatchObject({ outcome: 'down', reason: 'authorization-error' });
  });

  it('says how long it waited when the agent never answered', () => {
    expect(failed(new RequestTimedOutError('Request timed out'))).toMatchObject({ outcome: 'down', reason: 'timeout', detail: 'no answer after 2 × 2000 ms' });
  });

  it('maps v3 USM reports by their OID', () => {
    expect(failed(new UsmReportError('1.3.6.1.6.3.15.1.1.5.0'))).toMatchObject({ outcome: 'down', reason: 'wrong-digest' });
    expect(failed(new UsmReportError('1.3.6.1.6.3.15.1.1.2.0'))).toMatchObject({ outcome: 'down', reason: 'not-in-time-window' });
  });

  it('keeps the community out of an unreadable answer\'s detail', () => {
    const error = new snmp.ResponseInvalidError(`Community '${COMMUNITY}' in request does not match`, snmp.ResponseInvalidCode.ECommunityNoMatch);
    const outcome = failed(error);
    expect(outcome).toMatchObject({ outcome: 'down', reason: 'invalid-response' });
    expect(JSON.stringify(outcome)).not.toContain(COMMUNITY);
  });

  it('treats local socket failures as the prober\'s fault', () => {
    for (const code of ['EACCES', 'EMFILE', 'EADDRINUSE', 'ENOBUFS']) {
      const outcome = failed(systemError(code));
      expect(outcome).toMatchObject({ outcome: 'error', reason: 'socket', detail: `local socket failure: ${code}` });
      expect(JSON.stringify(outcome)).not.toContain(COMMUNITY);
    }
  });

  it('tells a name that does not resolve (down) from a broken resolver (error)', () => {
    expect(failed(systemError('ENOTFOUND'))).toMatchObject({ outcome: 'down', reason: 'unresolvable' });
    expect(failed(systemError('EAI_AGAIN'))).toMatchObject({ outcome: 'error', reason: 'dns-failure' });
  });

  it('blames this Node\'s OpenSSL, not the device, for a refused cipher', () => {
    expect(failed(systemError('ERR_OSSL_EVP_UNSUPPORTED'))).toMatchObject({ outcome: 'error', reason: 'bad-credentials' });
  });
});

describe('SNMP test agent', () => {
  it('serves several loopback addresses on one shared port, each with its own uptime', async () => {
    const first = await startSnmpAgent({ address: '127.0.5.3', port: 0, community: COMMUNITY, now: () => FROZEN_MS });
    const second = await startSnmpAgent({ address: '127.0.5.4', port: first.port, community: COMMUNITY, now: () => FROZEN_MS });
    try {
      first.setUptimeTicks(111);
      second.setUptimeTicks(222);
      expect(await probe(v2c, { port: first.port, address: '127.0.5.3' })).toMatchObject({ uptimeTicks: 111 });
      expect(await probe(v2c, { port: first.port, address: '127.0.5.4' })).toMatchObject({ uptimeTicks: 222 });
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('lets uptime count on and wrap at 2^32 like a real agent', async () => {
    let nowMs = FROZEN_MS;
    const wrapping = await startSnmpAgent({ address: '127.0.0.1', port: 0, community: COMMUNITY, now: () => nowMs });
    try {
      wrapping.setUptimeTicks(2 ** 32 - 1);
      nowMs += 50; // five ticks later
      expect(await probe(v2c, { port: wrapping.port })).toMatchObject({ uptimeTicks: 4 });
    } finally {
      await wrapping.close();
    }
  });

  it('refuses to start on an address and port already taken', async () => {
    await expect(startSnmpAgent({ address: '127.0.0.1', port: agent.port, community: COMMUNITY })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe('SNMP probe input it cannot use', () => {
  it('reports an unknown v3 protocol as the prober\'s fault without sending anything', async () => {
    const result = await probe({ ...v3, privProtocol: 'rot13' });
    expect(result).toMatchObject({ outcome: 'error', reason: 'bad-credentials' });
    expect(result.detail).toContain('rot13');
    expect(result.detail).not.toContain(V3.privKey);
  });
});
