import { readdirSync, readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { createFpingProbe, type FpingProbeOptions } from '../../src/probes/fping.js';
import { spawnPing, type PingRun, type PingRunner } from '../../src/probes/spawn.js';

const target = (address: string, deviceId = 7) => ({ deviceId, address });
const budget = () => AbortSignal.timeout(10_000);

/** The real runner, recording each fping it starts. */
function countingRunner(inner: PingRunner = spawnPing): PingRunner & { calls: string[][] } {
  const calls: string[][] = [];
  const run: PingRunner = (file, args, signal, onStdout) => {
    calls.push([file, ...args]);
    return inner(file, args, signal, onStdout);
  };
  return Object.assign(run, { calls });
}

/** A runner that answers with canned fping output instead of starting anything. */
const canned = (answer: PingRun): PingRunner & { calls: string[][] } => countingRunner(async () => answer);

/** fping children of this process still alive, read from /proc. */
function liveFpingChildren(): number {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return stat.includes('(fping)') && Number(fields[1]) === process.pid;
      } catch {
        return false;
      }
    }).length;
}

const probe = (opts: Partial<FpingProbeOptions> = {}) => createFpingProbe({ count: 2, timeoutMs: 500, ...opts });
const targetsOf = (argv: string[] | undefined) => (argv ?? []).slice((argv ?? []).indexOf('--') + 1);

describe('fping probe against the real fping binary', () => {
  it('reports 127.0.0.1 and other loopback addresses up at their first reply, from one process', async () => {
    const run = countingRunner();
    const icmp = probe({ run });
    const addresses = ['127.0.0.1', '127.1.0.1', '127.1.0.2', '127.2.3.4'];
    const results = await Promise.all(addresses.map((a, i) => icmp.run(target(a, i), budget())));
    for (const result of results) {
      expect(result).toMatchObject({ kind: 'icmp', outcome: 'up', reason: 'ok', detail: 'reply to request 1 of 2' });
      expect(result.rttMs).toBeGreaterThan(0);
    }
    expect(run.calls).toHaveLength(1);
    expect(targetsOf(run.calls[0])).toEqual(addresses);
  });

  it('coalesces many concurrent checks into one fping and asks once for an address checked twice', async () => {
    const run = countingRunner();
    const icmp = probe({ run });
    const addresses = Array.from({ length: 40 }, (_, i) => `127.3.0.${(i % 20) + 1}`);
    const results = await Promise.all(addresses.map((a, i) => icmp.run(target(a, i), budget())));
    expect(results.every((r) => r.outcome === 'up')).toBe(true);
    expect(run.calls).toHaveLength(1);
    expect(targetsOf(run.calls[0])).toHaveLength(20);
  });

  it("answers a target at its first reply, without waiting for its other requests or the batch's slowest target", async () => {
    // fping 5.1's own lines for a run over a loopback target and one that never answers; the
    // process (and its -C report) ends only when the test says so.
    let endRun: (ran: PingRun) => void = () => {};
    let stream: (chunk: string) => void = () => {};
    const run: PingRunner = (_file, _args, _signal, onStdout) => {
      stream = onStdout ?? (() => {});
      return new Promise<PingRun>((resolve) => (endRun = resolve));
    };
    const icmp = probe({ run, count: 2, batchWindowMs: 20 });
    const answered = icmp.run(target('127.0.0.1', 1), budget());
    const silent = icmp.run(target('127.0.9.9', 2), budget());
    await new Promise((r) => setTimeout(r, 50)); // the batch window
    // A lost first request, then a reply split across two chunks: up at that reply.
    stream('127.0.0.1  : [0], timed out (NaN avg, 100% loss)\n127.0.0.1  : [1], 64 by');
    stream('tes, 0.060 ms (0.060 avg, 50% loss)\n127.0.9.9  : [0], timed out (NaN avg, 100% loss)\n');
    expect(await answered).toMatchObject({ outcome: 'up', reason: 'ok', detail: 'reply to request 2 of 2', rttMs: 0.06 });

    let silentSettled = false;
    void silent.then(() => (silentSettled = true));
    await new Promise((r) => setImmediate(r));
    expect(silentSettled).toBe(false); // no reply yet: it waits for the end-of-run report
    endRun({ exitCode: 1, stdout: '', stderr: '127.0.0.1  : 0.060 0.010\n127.0.9.9  : - -\n' });
    expect(await silent).toMatchObject({ outcome: 'down', reason: 'no-reply', detail: '0/2 replies' });
  });

  it('starts a full batch without waiting out the batch window', async () => {
    const run = countingRunner();
    const icmp = probe({ run, maxBatch: 3, batchWindowMs: 60_000 });
    const results = await Promise.all(['127.4.0.1', '127.4.0.2', '127.4.0.3'].map((a) => icmp.run(target(a), budget())));
    expect(results.map((r) => r.outcome)).toEqual(['up', 'up', 'up']);
    expect(run.calls).toHaveLength(1);
  });

  it('reports a missing fping binary as the prober\'s fault', async () => {
    const result = await probe({ fpingPath: '/nonexistent/fping' }).run(target('127.0.0.1'), budget());
    expect(result).toMatchObject({ outcome: 'error', reason: 'ping-missing' });
    expect(result.detail).toContain('/nonexistent/fping');
  });

  it('lets one caller leave on abort while the batch answers the others, and ends fping once nobody waits', async () => {
    // fping as the test scripts it: its per-request lines arrive when the test says.
    let stream: (chunk: string) => void = () => {};
    let fpingSignal: AbortSignal | undefined;
    const run: PingRunner = (_file, _args, signal, onStdout) => {
      stream = onStdout ?? (() => {});
      fpingSignal = signal;
      return new Promise<PingRun>((resolve) => signal.addEventListener('abort', () => resolve({ exitCode: null, stdout: '', stderr: '' }), { once: true }));
    };
    const icmp = probe({ run, count: 3, batchWindowMs: 1 });
    const leaving = new AbortController();
    const left = icmp.run(target('127.5.0.1', 1), leaving.signal);
    const stayed = icmp.run(target('127.5.0.2', 2), budget());
    await waitUntil(() => fpingSignal !== undefined);
    leaving.abort();
    expect(await left).toMatchObject({ outcome: 'error', reason: 'aborted' });
    expect(fpingSignal?.aborted).toBe(false); // the other caller still waits on this run
    stream('127.5.0.2  : [0], 64 bytes, 0.050 ms (0.050 avg, 0% loss)\n');
    expect(await stayed).toMatchObject({ outcome: 'up', rttMs: 0.05 });
    expect(fpingSignal?.aborted).toBe(true);
  });

  it('kills the real fping once every caller of a running batch has its answer', async () => {
    const run = countingRunner();
    // 50 echo requests 200 ms apart: fping would run for ten seconds unless it is killed.
    const icmp = probe({ run, count: 50, timeoutMs: 1000, periodMs: 200, batchWindowMs: 1 });
    const started = performance.now();
    expect(await icmp.run(target('127.0.0.1'), budget())).toMatchObject({ outcome: 'up', detail: 'reply to request 1 of 50' });
    await waitUntil(() => liveFpingChildren() === 0);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(run.calls).toHaveLength(1);
  });

  it('kills the real fping once every caller of a running batch has left', async () => {
    const controller = new AbortController();
    // The caller leaves the moment fping is spawned, before its first reply can be read.
    const run = countingRunner((file, args, signal, onStdout) => {
      const ran = spawnPing(file, args, signal, onStdout);
      queueMicrotask(() => controller.abort());
      return ran;
    });
    const icmp = probe({ run, count: 50, timeoutMs: 1000, periodMs: 200, batchWindowMs: 1 });
    const pending = icmp.run(target('127.0.0.1'), controller.signal);
    expect(await pending).toMatchObject({ outcome: 'error', reason: 'aborted' });
    await waitUntil(() => liveFpingChildren() === 0);
  });
});

describe('fping probe outcomes from fping output', () => {
  it('refuses an address fping would read as an option, without spawning', async () => {
    const run = canned({ exitCode: 0, stdout: '', stderr: '' });
    const result = await probe({ run }).run(target('-x'), budget());
    expect(result).toMatchObject({ outcome: 'error', reason: 'unsafe-target' });
    expect(run.calls).toEqual([]);
  });

  it('reports a target whose requests were all lost as down with how many replies came back', async () => {
    const run = canned({ exitCode: 1, stdout: '', stderr: '127.0.99.9 : - -\n' });
    expect(await probe({ run }).run(target('127.0.99.9'), budget())).toMatchObject({ outcome: 'down', reason: 'no-reply', detail: '0/2 replies' });
  });

  it('counts a partly answered target as up', async () => {
    const run = canned({ exitCode: 0, stdout: '', stderr: '127.0.99.9 : - 3.50\n' });
    expect(await probe({ run }).run(target('127.0.99.9'), budget())).toMatchObject({ outcome: 'up', detail: '1/2 replies', rttMs: 3.5 });
  });

  it('says a name that does not resolve is down, not a prober fault', async () => {
    const run = canned({ exitCode: 2, stdout: '', stderr: 'gone.example: Name or service not known\n' });
    expect(await probe({ run }).run(target('gone.example'), budget())).toMatchObject({ outcome: 'down', reason: 'unresolvable' });
  });

  it('treats "can\'t create socket" as missing ICMP permission for every target of the run', async () => {
    const run = canned({ exitCode: 4, stdout: '', stderr: "fping: can't create socket (must run as root?)\n" });
    const icmp = probe({ run });
    const results = await Promise.all(['127.0.99.8', '127.0.99.9'].map((a) => icmp.run(target(a), budget())));
    for (const r of results) expect(r).toMatchObject({ outcome: 'error', reason: 'icmp-not-permitted' });
  });

  it('reports a run that left no line for the target as the prober\'s fault, quoting fping', async () => {
    const run = canned({ exitCode: 3, stdout: '', stderr: 'fping: something unexpected\n' });
    const result = await probe({ run }).run(target('127.0.99.9'), budget());
    expect(result).toMatchObject({ outcome: 'error', reason: 'ping-failed' });
    expect(result.detail).toContain('something unexpected');
  });

  it('lets a caller leave a batch that has not started yet', async () => {
    const run = canned({ exitCode: 0, stdout: '', stderr: '127.0.99.9 : 1.0 1.0\n' });
    const icmp = probe({ run, batchWindowMs: 50 });
    const leaving = new AbortController();
    const left = icmp.run(target('127.0.99.8'), leaving.signal);
    const stayed = icmp.run(target('127.0.99.9'), budget());
    leaving.abort();
    expect(await left).toMatchObject({ outcome: 'error', reason: 'aborted' });
    expect(await stayed).toMatchObject({ outcome: 'up' });
    expect(targetsOf(run.calls[0])).toEqual(['127.0.99.9']);
  });

  it('answers every caller still waiting as aborted when the probe closes', async () => {
    const icmp = probe({ run: canned({ exitCode: 0, stdout: '', stderr: '' }), batchWindowMs: 60_000 });
    const pending = icmp.run(target('127.0.99.9'), budget());
    await icmp.close?.();
    expect(await pending).toMatchObject({ outcome: 'error', reason: 'aborted' });
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}
