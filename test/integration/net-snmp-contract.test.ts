import { readFileSync } from 'node:fs';
import snmp from 'net-snmp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  abandonRequest,
  addressNextGet,
  armRequestTimer,
  assertNetSnmpInternals,
  missingNetSnmpInternals,
  NET_SNMP_VERSION,
  NetSnmpContractError,
  onUsmReport,
  renumberRequest,
  replaceRequestTimer,
  RequestTimedOutError,
  sendEachRequestToItsTarget,
  type SnmpRequest,
} from '../../src/probes/net-snmp-adapter.js';
import { closeSession, SYS_UPTIME_OID } from '../../src/probes/snmp.js';
import { startSnmpAgent, type SnmpAgent } from '../support/snmp-agent.js';

/**
 * The contract between our SNMP engines and net-snmp's private members, checked against the real
 * library and real agents: run this before raising the pinned net-snmp version.
 */
const COMMUNITY = 'c0ntract-community';
const V3 = { name: 'contract', authProtocol: 'sha', authKey: 'contract-auth-key', privProtocol: 'aes', privKey: 'contract-priv-key' } as const;
let answering: SnmpAgent;
let silent: SnmpAgent;

beforeAll(async () => {
  answering = await startSnmpAgent({ address: '127.0.13.1', port: 0, community: COMMUNITY, v3User: V3, now: () => 1_700_000_000_000 });
  silent = await startSnmpAgent({ address: '127.0.13.2', port: answering.port, community: COMMUNITY, now: () => 1_700_000_000_000 });
  answering.setUptimeTicks(1111);
  silent.setUptimeTicks(2222);
});

afterAll(async () => {
  await Promise.all([answering?.close(), silent?.close()]);
});

const read = (path: string) => JSON.parse(readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8'));

function session(opts: { timeoutMs?: number; retries?: number } = {}): snmp.Session {
  const s = snmp.createSession('127.0.0.1', 'unused', { port: answering.port, timeout: opts.timeoutMs ?? 1000, retries: opts.retries ?? 0, backoff: 1, version: snmp.Version2c });
  s.on('error', () => {});
  return s;
}

const get = (s: snmp.Session) =>
  new Promise<{ error: Error | null; ticks?: unknown }>((resolve) => s.get([SYS_UPTIME_OID], (error, varbinds) => resolve({ error, ticks: varbinds?.[0]?.value })));

describe('net-snmp internals behind the adapter', () => {
  it('the installed net-snmp is the exact version package.json and the lock pin, and has every member we use', () => {
    expect(read('package.json').dependencies['net-snmp']).toBe(NET_SNMP_VERSION);
    expect(read('package-lock.json').packages['node_modules/net-snmp'].version).toBe(NET_SNMP_VERSION);
    expect(missingNetSnmpInternals()).toEqual([]);
    expect(() => assertNetSnmpInternals()).not.toThrow();
  });

  it('a release lacking a member fails the start-up check, naming its version and the member', () => {
    const doctored = {
      ...snmp,
      createSession: (...args: Parameters<typeof snmp.createSession>) => Object.assign(snmp.createSession(...args), { registerRequest: undefined }),
    } as typeof snmp;
    const missing = missingNetSnmpInternals(doctored);
    expect(missing).toEqual(['Session.registerRequest']);
    const err = new NetSnmpContractError(NET_SNMP_VERSION, missing);
    expect(err.kind).toBe('net-snmp-contract');
    expect(err.message).toContain(`net-snmp ${NET_SNMP_VERSION} lacks`);
    expect(err.message).toContain('Session.registerRequest');
  });

  it('addresses each GET on one session, and sends a retry to the agent its request first went to', async () => {
    const s = session({ timeoutMs: 200, retries: 3 });
    sendEachRequestToItsTarget(s, () => {});
    try {
      silent.setResponding(false);
      addressNextGet(s, silent.address, '2c', COMMUNITY);
      const late = get(s);
      addressNextGet(s, answering.address, '1', COMMUNITY);
      expect(await get(s)).toEqual({ error: null, ticks: 1111 });
      silent.setResponding(true);
      // A retry sent to the session's current target (the answering agent) would read 1111.
      expect(await late).toEqual({ error: null, ticks: 2222 });
    } finally {
      silent.setResponding(true);
      await closeSession(s);
    }
  });

  it('a request renumbered before it leaves goes out and is answered under its new id', async () => {
    const s = session();
    let seen: SnmpRequest | undefined;
    sendEachRequestToItsTarget(s, (req) => {
      req.message.toBuffer(); // encoded once already: the cache must not send the old id
      renumberRequest(req, 4242);
      seen = req;
    });
    try {
      addressNextGet(s, answering.address, '2c', COMMUNITY);
      expect(await get(s)).toEqual({ error: null, ticks: 1111 });
      expect(seen?.getId()).toBe(4242);
    } finally {
      await closeSession(s);
    }
  });

  it('a replaced request timer decides every timeout, retries included, and ends in RequestTimedOutError', async () => {
    const s = session({ timeoutMs: 50, retries: 2 });
    const waits: number[] = [];
    replaceRequestTimer(s, (req, delayMs, expire) => {
      waits.push(delayMs);
      armRequestTimer(req, delayMs, expire);
    });
    silent.setResponding(false);
    try {
      addressNextGet(s, silent.address, '2c', COMMUNITY);
      const { error } = await get(s);
      expect(error).toBeInstanceOf(RequestTimedOutError);
      expect(waits).toEqual([50, 50, 50]);
    } finally {
      silent.setResponding(true);
      await closeSession(s);
    }
  });

  it('an abandoned request is never answered nor retried, and abandoning it twice is a no-op', async () => {
    const s = session({ timeoutMs: 50, retries: 3 });
    let req: SnmpRequest | undefined;
    let sends = 0;
    sendEachRequestToItsTarget(s, (r) => (req = r));
    replaceRequestTimer(s, (r, delayMs, expire) => {
      sends++;
      armRequestTimer(r, delayMs, expire);
    });
    silent.setResponding(false);
    try {
      addressNextGet(s, silent.address, '2c', COMMUNITY);
      let answered = false;
      void get(s).then(() => (answered = true));
      await new Promise((r) => setTimeout(r, 20));
      expect(abandonRequest(s, req as SnmpRequest)).toBe(true);
      expect(abandonRequest(s, req as SnmpRequest)).toBe(false);
      await new Promise((r) => setTimeout(r, 300));
      expect({ answered, sends }).toEqual({ answered: false, sends: 1 });
    } finally {
      silent.setResponding(true);
      await closeSession(s);
    }
  });

  it('a USM report reaches our hook with its OID', async () => {
    const user = { name: 'nobody-here', level: snmp.SecurityLevel.authPriv, authProtocol: snmp.AuthProtocols.sha, authKey: V3.authKey, privProtocol: snmp.PrivProtocols.aes, privKey: V3.privKey };
    const s = snmp.createV3Session(answering.address, user, { port: answering.port, timeout: 1000, retries: 0, version: snmp.Version3 });
    s.on('error', () => {});
    const oids: string[] = [];
    onUsmReport(s, (oid) => {
      oids.push(oid);
      return new Error('usm report');
    });
    try {
      const { error } = await get(s);
      expect(error?.message).toBe('usm report');
      expect(oids).toEqual(['1.3.6.1.6.3.15.1.1.3.0']); // usmStatsUnknownUserNames
    } finally {
      await closeSession(s);
    }
  });
});
