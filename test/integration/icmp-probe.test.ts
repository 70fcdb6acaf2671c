import { readdirSync, readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { createIcmpProbe } from '../../src/probes/icmp.js';
import { pingArgs } from '../../src/probes/ping-output.js';
import { checkIcmpPermission } from '../../src/probes/icmp-permission.js';
import { spawnPing, type PingRun, type PingRunner } from '../../src/probes/spawn.js';

const target = (address: string) => ({ deviceId: 7, address });
const budget = () => AbortSignal.timeout(10_000);

/** A runner that records what it was asked to run and answers with canned ping output. */
function fakeRunner(answer: PingRun | (() => Promise<PingRun>)): PingRunner & { calls: string[][] } {
  const calls: string[][] = [];
  const run = async (file: string, args: readonly string[]) => {
    calls.push([file, ...args]);
    return typeof answer === 'function' ? answer() : answer;
  };
  return Object.assign(run, { calls });
}

const systemError = (code: string) => Object.assign(new Error(`spawn ping ${code}`), { code });

/** ping children of this process still alive, read from /proc. */
function livePingChildren(): number {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return stat.includes('(ping)') && Number(fields[1]) === process.pid;
      } catch {
        return false;
      }
    }).length;
}

describe('ICMP probe against the real ping binary', () => {
  it('reports 127.0.0.1 up with its best round-trip time', async () => {
    const result = await createIcmpProbe({ count: 2, timeoutMs: 1000 }).run(target('127.0.0.1'), budget());
    expect(result).toMatchObject({ kind: 'icmp', outcome: 'up', reason: 'ok', detail: '2/2 replies' });
    expect(result.rttMs).toBeGreaterThan(0);
  });

  it('kills ping when the caller aborts and reports it as the prober\'s own fault', async () => {
    const controller = new AbortController();
    const runs: PingRun[] = [];
    const run: PingRunner = async (file, args, signal) => {
      const ran = await spawnPing(file, args, signal);
      runs.push(ran);
      return ran;
    };
    // 100 replies at 0.2 s intervals: ping would run for ~20 s unless it is killed.
    const pending = createIcmpProbe({ count: 100, timeoutMs: 1000, run }).run(target('127.0.0.1'), controller.signal);
    setTimeout(() => controller.abort(), 300);
    const result = await pending;
    expect(result).toMatchObject({ outcome: 'error', reason: 'aborted' });
    expect(runs[0]?.exitCode).toBeNull(); // ended by a signal, not by finishing its count
    expect(livePingChildren()).toBe(0);
  });

  it('says a name that does not resolve is down, not a prober fault', async () => {
    const result = await createIcmpProbe({ count: 1, timeoutMs: 500 }).run(target('no-such-device.invalid'), budget());
    expect(result).toMatchObject({ outcome: 'down', reason: 'unresolvable' });
  });

  it('reports a missing ping binary as an error', async () => {
    const result = await createIcmpProbe({ count: 1, timeoutMs: 500, pingPath: '/nonexistent/ping' }).run(target('127.0.0.1'), budget());
    expect(result).toMatchObject({ outcome: 'error', reason: 'ping-missing' });
    expect(result.detail).toContain('/nonexistent/ping');
  });

  it('finds ICMP permitted on this machine', async () => {
    expect(await checkIcmpPermission()).toEqual({ ok: true });
  });
});

describe('ICMP probe outcomes from ping output', () => {
  const noReply: PingRun = {
    exitCode: 1,
    stdout: 'PING 127.0.99.9 (127.0.99.9) 56(84) bytes of data.\n\n--- 127.0.99.9 ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss, time 2040ms\n\n',
    stderr: '',
  };
  const eperm: PingRun = { exitCode: 2, stdout: '', stderr: 'ping: socktype: SOCK_RAW\nping: socket: Operation not permitted\nping: => missing cap_net_raw+p capability or setuid?\n' };

  it('reports no reply as down with how many replies came back', async () => {
    const result = await createIcmpProbe({ count: 3, timeoutMs: 1000, run: fakeRunner(noReply) }).run(target('127.0.99.9'), budget());
    expect(result).toMatchObject({ outcome: 'down', reason: 'no-reply', detail: '0/3 replies' });
  });

  it('treats "Operation not permitted" as the prober\'s fault, never the device\'s', async () => {
    const result = await createIcmpProbe({ count: 3, timeoutMs: 1000, run: fakeRunner(eperm) }).run(target('127.0.99.9'), budget());
    expect(result).toMatchObject({ outcome: 'error', reason: 'icmp-not-permitted' });
  });

  it('treats "socket: Permission denied" (outside ping_group_range) as not permitted', async () => {
    const run = fakeRunner({ exitCode: 2, stdout: '', stderr: 'ping: socket: Permission denied\n' });
    const result = await createIcmpProbe({ count: 1, timeoutMs: 1000, run }).run(target('127.0.99.9'), budget());
    expect(result).toMatchObject({ outcome: 'error', reason: 'icmp-not-permitted' });
  });

  it('reports ENOENT from spawning as a missing ping binary', async () => {
    const run = fakeRunner(() => Promise.reject(systemError('ENOENT')));
    const result = await createIcmpProbe({ count: 1, timeoutMs: 1000, run }).run(target('127.0.99.9'), budget());
    expect(result).toMatchObject({ outcome: 'error', reason: 'ping-missing' });
  });

  it('refuses an address that ping would read as an option, without spawning', async () => {
    const run = fakeRunner(noReply);
    const result = await createIcmpProbe({ count: 1, timeoutMs: 1000, run }).run(target('-f'), budget());
    expect(result).toMatchObject({ outcome: 'error', reason: 'unsafe-target' });
    expect(run.calls).toEqual([]);
  });

  it('passes count, per-reply timeout and "--" before the target to ping', async () => {
    const run = fakeRunner(noReply);
    await createIcmpProbe({ count: 3, timeoutMs: 1500, pingPath: '/usr/bin/ping', run }).run(target('127.0.99.9'), budget());
    const argv = run.calls[0] ?? [];
    expect(argv[0]).toBe('/usr/bin/ping');
    expect(argv.slice(-2)).toEqual(['--', '127.0.99.9']);
    expect(argv.join(' ')).toContain('-c 3');
    expect(argv.join(' ')).toContain('-W 1.5');
    expect(argv).toContain('-n');
  });

  it('reports an unrecognised ping failure as an error, not as down', async () => {
    const run = fakeRunner({ exitCode: 2, stdout: '', stderr: 'ping: sendmsg: No buffer space available\n' });
    const result = await createIcmpProbe({ count: 1, timeoutMs: 1000, run }).run(target('127.0.99.9'), budget());
    expect(result).toMatchObject({ outcome: 'error', reason: 'ping-failed' });
    expect(result.detail).toContain('No buffer space available');
  });

  it('builds the same argv for IPv6 targets', () => {
    expect(pingArgs('::1', 1, 1000).slice(-2)).toEqual(['--', '::1']);
  });
});

describe('ICMP permission check', () => {
  const epermProbe = createIcmpProbe({
    count: 1,
    timeoutMs: 1000,
    run: async () => ({ exitCode: 2, stdout: '', stderr: 'ping: socket: Permission denied\n' }),
  });

  it('names ping_group_range, the process groups and the missing capability when ICMP is refused', async () => {
    const files: Record<string, string> = {
      '/proc/sys/net/ipv4/ping_group_range': '1\t0\n',
      '/proc/self/status': 'Name:\tnode\nNoNewPrivs:\t1\n',
    };
    const verdict = await checkIcmpPermission({ probe: epermProbe, readText: async (p) => files[p], groups: () => [65534] });
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.reason).toContain('net.ipv4.ping_group_range is "1 0"');
    expect(verdict.reason).toContain('(65534) are outside it');
    expect(verdict.reason).toContain('no_new_privs');
    expect(verdict.hint).toContain('sysctl.d');
    expect(verdict.hint).toContain('setcap cap_net_raw');
    expect(verdict.hint).toContain('securityContext.sysctls');
  });

  it('says the binary is missing and how to install it', async () => {
    const probe = createIcmpProbe({ count: 1, timeoutMs: 1000, pingPath: '/nonexistent/ping' });
    const verdict = await checkIcmpPermission({ probe });
    expect(verdict).toMatchObject({ ok: false, reason: expect.stringContaining('not found') });
    if (!verdict.ok) expect(verdict.hint).toContain('iputils');
  });
});
