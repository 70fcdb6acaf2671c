import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usableIcmpProbe } from '../../src/probes/icmp-engine.js';
import { createNativeIcmpProbe } from '../../src/probes/native-icmp.js';
import { icmpEngines } from '../../src/probes/registry.js';
import type { Probe, ProbeResult } from '../../src/probes/types.js';
import { asNobody, canBuildLab, createIcmpLab, LAB, type IcmpLab } from '../support/icmp-lab.js';

/**
 * The native ICMP engine against real sockets: loopback in this process, and in a two-namespace
 * lab (test/support/icmp-lab.ts) as nobody on datagram sockets and as root on raw sockets,
 * where a router answers, refuses (ICMP unreachable, prohibited) or stays silent. Scripts in the
 * namespaces import the built dist/ (npm test builds it, addon included).
 */
const DIST = resolve('dist');
const isRoot = process.getuid?.() === 0;
const run = (address: string, probe: Probe, signal = AbortSignal.timeout(5000)) =>
  probe.run({ deviceId: 1, address }, signal);

describe.skipIf(!isRoot)('native ICMP engine on loopback (as root)', () => {
  it('answers up for 127.0.0.1 and ::1 at the first reply, with its round-trip time', async () => {
    const probe = createNativeIcmpProbe({ count: 3, timeoutMs: 500 });
    for (const address of ['127.0.0.1', '::1', 'localhost']) {
      const result = await run(address, probe);
      expect(result, address).toMatchObject({ outcome: 'up', reason: 'ok', detail: 'reply to request 1 of 3' });
      expect(result.rttMs).toBeGreaterThan(0);
    }
    await probe.close();
  });

  it('reports a name that does not resolve as down, and an aborted check as error (never down)', async () => {
    const probe = createNativeIcmpProbe({ count: 3, timeoutMs: 500 });
    expect(await run('no-such-device.invalid', probe)).toMatchObject({ outcome: 'down', reason: 'unresolvable' });
    const budget = new AbortController();
    const pending = run('127.0.0.1', probe, budget.signal);
    budget.abort();
    expect(await pending).toMatchObject({ outcome: 'error', reason: 'aborted' });
    await probe.close();
  });

  it('checks sharing one budget signal end together when it aborts; checks on another signal are untouched', async () => {
    const probe = createNativeIcmpProbe({ count: 3, timeoutMs: 500 });
    const spent = new AbortController();
    const other = new AbortController();
    const address = (i: number) => (i % 10 === 9 ? '::1' : `127.5.${i >> 7}.${(i & 127) + 1}`);
    const pending = Array.from({ length: 400 }, (_, i) => run(address(i), probe, i % 2 ? spent.signal : other.signal));
    spent.abort(); // before the pacer's first turn: nothing of the spent group is on the wire yet
    const results = await Promise.all(pending);
    expect(results.filter((_, i) => i % 2 === 1).every((r) => r.outcome === 'error' && r.reason === 'aborted')).toBe(true);
    expect(results.filter((_, i) => i % 2 === 0).every((r) => r.outcome === 'up')).toBe(true);
    // Nothing was left behind: the same probe serves new checks, and an already spent signal ends a check at once.
    expect(await run('127.5.9.1', probe, spent.signal)).toMatchObject({ outcome: 'error', reason: 'aborted' });
    const again = await Promise.all(Array.from({ length: 100 }, (_, i) => run(address(i), probe)));
    expect(again.every((r) => r.outcome === 'up')).toBe(true);
    await probe.close();
  });

  it('opens another socket when one runs out of sequence numbers, and every check still gets its own reply', async () => {
    const probe = createNativeIcmpProbe({ count: 1, timeoutMs: 1000, seqsPerSocket: 16 });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => run(`127.2.${i >> 8}.${(i & 255) + 1}`, probe)));
    expect(results.filter((r) => r.outcome === 'up')).toHaveLength(200);
    expect(probe.sockets()[0]!.sockets.length).toBeGreaterThan(1);
    await probe.close();
  });

  it('paces a burst of 20,000 checks so that no reply is lost to the receive buffer', async () => {
    const probe = createNativeIcmpProbe({ count: 1, timeoutMs: 2000 });
    const results = await Promise.all(Array.from({ length: 20_000 }, (_, i) => run(`127.4.${Math.floor(i / 250)}.${(i % 250) + 1}`, probe)));
    expect(results.filter((r) => r.outcome !== 'up').slice(0, 3)).toEqual([]);
    await probe.close();
  });

  it('without the addon, the worker falls back to fping (then ping) and says why', async () => {
    const missing = () => ({ ok: false as const, reason: 'native ICMP addon not built (test)' });
    const chosen = await usableIcmpProbe('native', (engine) =>
      engine === 'native' ? createNativeIcmpProbe({ count: 1, timeoutMs: 500, load: missing }) : icmpEngines[engine]({ count: 1, timeoutMs: 500 }),
    );
    expect(chosen.fellBack).toMatchObject({ from: 'native', reason: 'native ICMP addon not built (test)' });
    expect(chosen.fellBack?.hint).toContain('npm run build');
    expect(['fping', 'ping']).toContain(chosen.engine);
    expect(await run('127.0.0.1', chosen.probe)).toMatchObject({ outcome: 'up' });
    await chosen.probe.close?.();
  });
});

// Checks every lab target, prints the verdicts and which sockets the engine opened.
const CHECK_SCRIPT = `
const { createNativeIcmpProbe } = await import('${DIST}/probes/native-icmp.js');
const probe = createNativeIcmpProbe({ count: 3, timeoutMs: 400 });
const targets = JSON.parse(process.argv[2]);
const results = {};
await Promise.all(targets.map(async (address, i) => { results[address] = await probe.run({ deviceId: i, address }, AbortSignal.timeout(5000)); }));
console.log(JSON.stringify({ results, sockets: probe.sockets() }));
await probe.close();
`;

// Many checks at once through the engine's shared timers: silent targets must time out after their
// last request, answering ones must not, and one budget group aborted mid-wait ends as errors.
const TIMERS_SCRIPT = `
const { createNativeIcmpProbe } = await import('${DIST}/probes/native-icmp.js');
const [silent4, silent6, router4, router6] = JSON.parse(process.argv[2]);
const probe = createNativeIcmpProbe({ count: 2, timeoutMs: 300, intervalMs: 200 });
const budget = AbortSignal.timeout(20000);
const targets = Array.from({ length: 400 }, (_, i) => [silent4, router4, silent6, router6][i % 4]);
const timed = await Promise.all(targets.map((address, i) => probe.run({ deviceId: i, address }, budget)));
const patient = createNativeIcmpProbe({ count: 3, timeoutMs: 5000 });
const group = new AbortController();
const waiting = Array.from({ length: 100 }, (_, i) => patient.run({ deviceId: i, address: i % 2 ? silent4 : silent6 }, group.signal));
const answered = await Promise.all(Array.from({ length: 100 }, (_, i) => patient.run({ deviceId: i, address: i % 2 ? router4 : router6 }, AbortSignal.timeout(20000))));
group.abort();
const aborted = await Promise.all(waiting);
console.log(JSON.stringify({ targets, timed, answered, aborted }));
await probe.close();
await patient.close();
`;

// Sends 200 echoes, 5 ms apart, to one target while a system ping runs at it; counts what each echo got.
const CROSSTALK_SCRIPT = `
const { loadIcmpEchoAddon, addressBytes } = await import('${DIST}/probes/icmp-echo-addon.js');
const { EchoSender } = await import('${DIST}/probes/icmp-echo-sockets.js');
const { openEchoSockets } = await import('${DIST}/probes/icmp-socket-kind.js');
const [target, family] = [process.argv[2], Number(process.argv[3])];
const { addon } = loadIcmpEchoAddon();
const { pool } = openEchoSockets(addon, family, 'auto', { receiveBufferBytes: 1 << 20, seqsPerSocket: 49152 });
const sender = new EchoSender(addon, 64);
const address = addressBytes(target);
const got = new Array(200).fill(0);
for (let i = 0; i < 200; i++) {
  const socket = pool.socketWithRoom();
  const echo = {
    matches: (records, offset) => records.compare(address, 0, address.length, offset, offset + address.length) === 0,
    onReply: () => { got[i] += 1; },
    onError: () => { got[i] += 100; },
  };
  const seq = socket.register(echo);
  sender.enqueue({ socket, seq, writeAddress: (into, offset) => address.copy(into, offset), live: () => true, onSent: () => {} });
  await new Promise((r) => setTimeout(r, 5));
}
await new Promise((r) => setTimeout(r, 300));
console.log(JSON.stringify({ kind: pool.kind, got }));
pool.close();
`;

const ALL_TARGETS = ['127.0.0.1', '::1', ...Object.values(LAB.v4), ...Object.values(LAB.v6)];

describe.skipIf(!canBuildLab())('native ICMP engine in network namespaces (needs root, ip, setpriv)', () => {
  let lab: IcmpLab;
  let dir = '';
  const script = (name: string) => join(dir, name);
  const node = (argv: string[]) => spawnSync('ip', argv, { encoding: 'utf8', timeout: 60_000 });
  const verdicts = (stdout: string) => {
    const out = JSON.parse(stdout) as { results: Record<string, ProbeResult>; sockets: { family: number; kind: string; why: string }[] };
    return { ...out, verdict: (a: string) => out.results[a] };
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ip-native-'));
    chmodSync(dir, 0o755);
    writeFileSync(script('check.mjs'), CHECK_SCRIPT, { mode: 0o644 });
    writeFileSync(script('crosstalk.mjs'), CROSSTALK_SCRIPT, { mode: 0o644 });
    writeFileSync(script('timers.mjs'), TIMERS_SCRIPT, { mode: 0o644 });
    lab = createIcmpLab('native');
  });

  afterAll(() => {
    lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const expectLabVerdicts = (verdict: (a: string) => ProbeResult | undefined) => {
    for (const a of ['127.0.0.1', '::1', LAB.v4.router, LAB.v6.router]) expect(verdict(a), a).toMatchObject({ outcome: 'up', reason: 'ok' });
    expect(verdict(LAB.v4.unreachable)).toMatchObject({ outcome: 'down', reason: 'unreachable', detail: 'host unreachable from 198.18.0.2 (ICMP type 3 code 1)' });
    expect(verdict(LAB.v4.prohibited)).toMatchObject({ outcome: 'down', reason: 'unreachable', detail: 'communication administratively prohibited from 198.18.0.2 (ICMP type 3 code 13)' });
    expect(verdict(LAB.v6.unreachable)).toMatchObject({ outcome: 'down', reason: 'unreachable', detail: expect.stringMatching(/^no route to destination from fd00:11::2 \(ICMPv6 type 1 code 0\)$/) });
    expect(verdict(LAB.v6.prohibited)).toMatchObject({ outcome: 'down', reason: 'unreachable', detail: expect.stringContaining('administratively prohibited') });
    for (const a of [LAB.v4.silent, LAB.v6.silent]) expect(verdict(a), a).toMatchObject({ outcome: 'down', reason: 'no-reply', detail: '0/3 replies' });
  };

  it('as nobody with no capability, no_new_privs and an empty bounding set: datagram sockets, IPv4 and IPv6, replies and ICMP errors', () => {
    lab.pingGroupRange('0 2147483647');
    const ran = node(asNobody(lab, [process.execPath, script('check.mjs'), JSON.stringify(ALL_TARGETS)]));
    expect(ran.stderr).toBe('');
    const { verdict, sockets } = verdicts(ran.stdout);
    expect(sockets.map((s) => [s.family, s.kind])).toEqual(expect.arrayContaining([[4, 'dgram'], [6, 'dgram']]));
    expect(sockets[0]!.why).toContain('admits');
    expectLabVerdicts(verdict);
  });

  it('as root with ping_group_range closed: raw sockets, the same verdicts', () => {
    lab.pingGroupRange('1 0');
    const ran = node(['netns', 'exec', lab.prober, process.execPath, script('check.mjs'), JSON.stringify(ALL_TARGETS)]);
    expect(ran.stderr).toBe('');
    const { verdict, sockets } = verdicts(ran.stdout);
    expect(sockets.map((s) => [s.family, s.kind])).toEqual(expect.arrayContaining([[4, 'raw'], [6, 'raw']]));
    expect(sockets[0]!.why).toMatch(/datagram socket refused .*CAP_NET_RAW/);
    expectLabVerdicts(verdict);
  });

  it('as nobody outside ping_group_range: error icmp-not-permitted (counted against no device), saying why', () => {
    lab.pingGroupRange('1 0');
    const ran = node(asNobody(lab, [process.execPath, script('check.mjs'), JSON.stringify([LAB.v4.router])]));
    const { verdict } = verdicts(ran.stdout);
    expect(verdict(LAB.v4.router)).toMatchObject({ outcome: 'error', reason: 'icmp-not-permitted' });
    expect(verdict(LAB.v4.router)!.detail).toMatch(/ping_group_range "1 0" does not admit .*CAP_NET_RAW not held/);
  });

  const expectTimers = (stdout: string) => {
    const out = JSON.parse(stdout) as { targets: string[]; timed: ProbeResult[]; answered: ProbeResult[]; aborted: ProbeResult[] };
    const silent = new Set<string>([LAB.v4.silent, LAB.v6.silent]);
    out.targets.forEach((address, i) => {
      const r = out.timed[i]!;
      if (silent.has(address)) {
        expect(r, address).toMatchObject({ outcome: 'down', reason: 'no-reply', detail: '0/2 replies' });
        // Not before its second request (200 ms in) has waited its 300 ms (1 ms of timer slack, rounding).
        expect(r.durationMs, address).toBeGreaterThanOrEqual(498);
      } else expect(r, address).toMatchObject({ outcome: 'up', reason: 'ok', detail: 'reply to request 1 of 2' });
    });
    for (const r of out.answered) expect(r).toMatchObject({ outcome: 'up', reason: 'ok' });
    for (const r of out.aborted) expect(r).toMatchObject({ outcome: 'error', reason: 'aborted' });
  };

  it('shared timers: 400 checks at once time out only after their last request, and an aborted group ends as errors (nobody, datagram)', () => {
    lab.pingGroupRange('0 2147483647');
    const ran = node(asNobody(lab, [process.execPath, script('timers.mjs'), JSON.stringify([LAB.v4.silent, LAB.v6.silent, LAB.v4.router, LAB.v6.router])]));
    expect(ran.stderr).toBe('');
    expectTimers(ran.stdout);
  });

  it('shared timers, the same on raw sockets (root)', () => {
    lab.pingGroupRange('1 0');
    const ran = node(['netns', 'exec', lab.prober, process.execPath, script('timers.mjs'), JSON.stringify([LAB.v4.silent, LAB.v6.silent, LAB.v4.router, LAB.v6.router])]);
    expect(ran.stderr).toBe('');
    expectTimers(ran.stdout);
  });

  // A system ping at the same target at the same time: each side must get exactly its own replies.
  const crosstalk = async (asRoot: boolean, target: string, family: 4 | 6) => {
    lab.pingGroupRange(asRoot ? '1 0' : '0 2147483647');
    const pingArgv = ['-n', '-c', '100', '-i', '0.01', '-W', '1', target];
    // ping without --bounding-set=-all: Debian's ping carries cap_net_raw+ep and would not exec (it then uses a datagram socket).
    const ping = spawn('ip', asRoot ? ['netns', 'exec', lab.prober, 'ping', ...pingArgv] : asNobody(lab, ['ping', ...pingArgv], { emptyBoundingSet: false }), { stdio: ['ignore', 'pipe', 'pipe'] });
    let pingOut = '';
    ping.stdout.setEncoding('utf8').on('data', (c: string) => (pingOut += c));
    const pingDone = new Promise((r) => ping.once('close', r));
    const engineArgv = [process.execPath, script('crosstalk.mjs'), target, String(family)];
    const engine = spawnSync('ip', asRoot ? ['netns', 'exec', lab.prober, ...engineArgv] : asNobody(lab, engineArgv), { encoding: 'utf8', timeout: 60_000 });
    await pingDone;
    expect(engine.stderr).toBe('');
    const { kind, got } = JSON.parse(engine.stdout) as { kind: string; got: number[] };
    expect(kind).toBe(asRoot ? 'raw' : 'dgram');
    expect(got.every((n) => n === 1)).toBe(true);
    expect(pingOut).toMatch(/100 packets transmitted, 100 received/);
    expect(pingOut).not.toContain('DUP!');
  };

  it('no cross-talk with a concurrent system ping: raw sockets (root), IPv4 and IPv6', async () => {
    await crosstalk(true, LAB.v4.router, 4);
    await crosstalk(true, LAB.v6.router, 6);
  });

  it('no cross-talk with a concurrent system ping: datagram sockets (nobody), IPv4 and IPv6', async () => {
    await crosstalk(false, LAB.v4.router, 4);
    await crosstalk(false, LAB.v6.router, 6);
  });
});
