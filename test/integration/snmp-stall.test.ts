import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import snmp from 'net-snmp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedSessions } from '../../src/probes/snmp-pool.js';
import { closeSession, createSnmpProbe, perProbeSessions } from '../../src/probes/snmp.js';
import { judgeTimeoutsAfterStalls } from '../../src/probes/snmp-timeouts.js';
import type { Probe, SnmpCredentials } from '../../src/probes/types.js';
import { startSnmpAgent, type SnmpAgent } from '../support/snmp-agent.js';
import { blockEventLoop } from '../support/event-loop.js';

/**
 * A busy prober must not call a device Down because its own event loop was blocked when the
 * answer came. A real agent answers at once; a relay in another process holds each answer
 * RELAY_DELAY_MS (the network's latency), so it lands in our socket while this process is
 * blocked, after the GET's timeout came due. net-snmp alone reports that as a timeout.
 */
const COMMUNITY = 'st4ll-c0mmunity';
const AGENT_ADDRESS = '127.0.9.1';
const UPTIME = 4242;
const TIMEOUT_MS = 200;
const RELAY_DELAY_MS = 100;
const v2c: SnmpCredentials = { version: '2c', community: COMMUNITY };

// The relay: requests from the prober go to the agent at once, answers go back after a delay.
const RELAY = `
const dgram = require('node:dgram');
const [agentAddress, agentPort, delayMs] = process.argv.slice(1);
const socket = dgram.createSocket('udp4');
let prober;
socket.on('message', (msg, from) => {
  if (from.address === agentAddress && from.port === Number(agentPort)) {
    if (prober) setTimeout(() => socket.send(msg, prober.port, prober.address), Number(delayMs));
  } else {
    prober = from;
    socket.send(msg, Number(agentPort), agentAddress);
  }
});
socket.bind(0, '127.0.0.1', () => console.log(socket.address().port));
`;

let agent: SnmpAgent;
let relay: ChildProcess;
let relayPort = 0;

beforeAll(async () => {
  agent = await startSnmpAgent({ address: AGENT_ADDRESS, port: 0, community: COMMUNITY, now: () => 1_700_000_000_000 });
  agent.setUptimeTicks(UPTIME);
  relay = spawn(process.execPath, ['-e', RELAY, AGENT_ADDRESS, String(agent.port), String(RELAY_DELAY_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(relay.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  relayPort = Number(chunk.toString().trim());
});

afterAll(async () => {
  relay?.kill();
  await agent?.close();
});

/** Starts the GET, lets it leave (its timeout armed), then stalls past timeout and answer. */
async function runThroughStall(probe: Probe) {
  const result = probe.run({ deviceId: 1, address: '127.0.0.1', snmp: v2c }, AbortSignal.timeout(5_000));
  await new Promise((resolve) => setTimeout(resolve, 20));
  await blockEventLoop(TIMEOUT_MS + RELAY_DELAY_MS + 300);
  return result;
}

describe('SNMP timeouts after an event-loop stall (real agent, answers delayed by a relay process)', () => {
  it('the shared session reads the answer that arrived during the stall: up, not a timeout', async () => {
    const sessions = sharedSessions({ port: relayPort, timeoutMs: TIMEOUT_MS, retries: 0 });
    const probe = createSnmpProbe({ port: relayPort, timeoutMs: TIMEOUT_MS, retries: 0, sessions });
    try {
      expect(await runThroughStall(probe)).toMatchObject({ outcome: 'up', reason: 'ok', uptimeTicks: UPTIME });
    } finally {
      await probe.close?.();
    }
  });

  it('so does a session per probe', async () => {
    const probe = createSnmpProbe({ port: relayPort, timeoutMs: TIMEOUT_MS, retries: 0 });
    expect(await runThroughStall(probe)).toMatchObject({ outcome: 'up', reason: 'ok', uptimeTicks: UPTIME });
  });

  it('a device that does not answer is still down by timeout once the loop runs on time again', async () => {
    const sessions = sharedSessions({ port: relayPort, timeoutMs: TIMEOUT_MS, retries: 0 });
    const probe = createSnmpProbe({ port: relayPort, timeoutMs: TIMEOUT_MS, retries: 0, sessions });
    try {
      // The agent drops a wrong community silently, as real agents do.
      const result = probe.run({ deviceId: 2, address: '127.0.0.1', snmp: { version: '2c', community: 'wrong' } }, AbortSignal.timeout(5_000));
      await new Promise((resolve) => setTimeout(resolve, 20));
      await blockEventLoop(TIMEOUT_MS + RELAY_DELAY_MS + 300);
      expect(await result).toMatchObject({ outcome: 'down', reason: 'timeout' });
    } finally {
      await probe.close?.();
    }
  });

  it('a loop that stays starved ends the GET on the check budget as a prober-side error, never as Down', async () => {
    // Every look at the clock finds the timer 1 s late: the loop never catches up.
    let fakeNow = 0;
    const starvedClock = () => (fakeNow += 1_000);
    const source = perProbeSessions({ port: relayPort, timeoutMs: TIMEOUT_MS, retries: 0 });
    const probe = createSnmpProbe({
      port: relayPort,
      timeoutMs: TIMEOUT_MS,
      retries: 0,
      sessions: { open: (address, c) => judgeTimeoutsAfterStalls(source.open(address, c), { now: starvedClock }), release: closeSession },
    });
    const result = await probe.run({ deviceId: 3, address: '127.0.0.1', snmp: { version: '2c', community: 'wrong' } }, AbortSignal.timeout(1_000));
    expect(result).toMatchObject({ outcome: 'error', reason: 'aborted' });
  });

  it('keeps net-snmp retries: a lost first attempt is re-sent and answered', async () => {
    const session = judgeTimeoutsAfterStalls(snmp.createSession('127.0.0.1', COMMUNITY, { port: relayPort, timeout: 60, retries: 4, version: snmp.Version2c }));
    try {
      // 60 ms per attempt against a 100 ms answer: the first attempt times out and is re-sent; the answer is read.
      const varbinds = await new Promise<snmp.Varbind[]>((resolve, reject) => session.get(['1.3.6.1.2.1.1.3.0'], (err, vb) => (err ? reject(err) : resolve(vb ?? []))));
      expect(varbinds[0]?.value).toBe(UPTIME);
    } finally {
      await closeSession(session);
    }
  });
});
