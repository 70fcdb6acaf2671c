import { describe, it, expect } from 'vitest';
import { batchLimit } from '../../src/probes/fping.js';
import { fpingArgs, parseFpingOutput, readReplyLine } from '../../src/probes/fping-output.js';

const timing = { count: 3, timeoutMs: 1000, intervalMs: 1, periodMs: 200 };

describe('fping argv', () => {
  it('passes count, per-request timeout, no retries, intervals and "--" before the targets', () => {
    expect(fpingArgs(['127.0.0.1', 'router-1.example'], timing)).toEqual([
      '-C', '3', '-t', '1000', '-r', '0', '-i', '1', '-p', '200', '--', '127.0.0.1', 'router-1.example',
    ]);
  });

  it('never asks for intervals below what safe-limit builds allow non-root users', () => {
    const argv = fpingArgs(['127.0.0.1'], { ...timing, intervalMs: 0, periodMs: 2 });
    expect(argv.slice(argv.indexOf('-i'), argv.indexOf('-i') + 2)).toEqual(['-i', '1']);
    expect(argv.slice(argv.indexOf('-p'), argv.indexOf('-p') + 2)).toEqual(['-p', '10']);
  });

  it('keeps -q out, so resolver and socket errors still reach stderr', () => {
    expect(fpingArgs(['127.0.0.1'], timing)).not.toContain('-q');
  });
});

describe('fping batch size', () => {
  it('caps a batch so its last packet is sent and answered within the caller\'s budget', () => {
    // 3 × 1000 + 500 − 1000 − 2 × 200 = 2100 ms of sending at 3 packets per target, reckoned
    // 2 ms apart (fping's `-i 1` really paces ~1.7 ms).
    expect(batchLimit(timing, 5000)).toBe(350);
    expect(batchLimit(timing, 128)).toBe(128);
    // One echo request: 1000 + 500 − 1000 = 500 ms of sending.
    expect(batchLimit({ ...timing, count: 1 }, 512)).toBe(250);
  });

  it('always allows at least one target', () => {
    expect(batchLimit({ count: 1, timeoutMs: 100, intervalMs: 10, periodMs: 10 }, 512)).toBeGreaterThanOrEqual(1);
  });
});

describe('fping output', () => {
  const targets = ['127.0.0.1', '127.1.2.3', '10.9.9.9', 'no-such-device.invalid', '::1'];

  it('reads every reply time of an all-answered target', () => {
    const report = parseFpingOutput('127.0.0.1 : 0.037 0.051 0.052\n', targets);
    expect(report.targets.get('127.0.0.1')).toEqual({ kind: 'times', times: [0.037, 0.051, 0.052] });
    expect(report.other).toEqual([]);
  });

  it('reads a partial answer with lost requests as null', () => {
    const report = parseFpingOutput('127.1.2.3 : - 1.20 -\n', targets);
    expect(report.targets.get('127.1.2.3')).toEqual({ kind: 'times', times: [null, 1.2, null] });
  });

  it('reads an all-lost target as nothing but nulls', () => {
    const report = parseFpingOutput('10.9.9.9 : - - -\n', targets);
    expect(report.targets.get('10.9.9.9')).toEqual({ kind: 'times', times: [null, null, null] });
  });

  it('reads names padded to the longest target, as fping aligns them', () => {
    const stderr = '127.0.0.1              : 0.02\nno-such-device.invalid : -\n::1                    : 0.05\n';
    const report = parseFpingOutput(stderr, targets);
    expect(report.targets.get('127.0.0.1')).toEqual({ kind: 'times', times: [0.02] });
    expect(report.targets.get('::1')).toEqual({ kind: 'times', times: [0.05] });
  });

  it('ignores duplicate-reply lines: the count report already has the first reply', () => {
    const stderr = '127.0.0.1 : duplicate for [0], 64 bytes, 0.05 ms [<- 127.0.0.9]\n127.0.0.1 : 0.04 0.03\n';
    const report = parseFpingOutput(stderr, targets);
    expect(report.targets.get('127.0.0.1')).toEqual({ kind: 'times', times: [0.04, 0.03] });
    expect(report.other).toEqual([]);
  });

  it('tells a name that does not resolve from a resolver that is down', () => {
    const stderr = 'no-such-device.invalid: Name or service not known\n127.1.2.3: Temporary failure in name resolution\n';
    const report = parseFpingOutput(stderr, targets);
    expect(report.targets.get('no-such-device.invalid')).toEqual({ kind: 'unresolvable', message: 'Name or service not known' });
    expect(report.targets.get('127.1.2.3')).toMatchObject({ kind: 'resolver-failed' });
  });

  it('keeps an ICMP error for a target as the reason its requests were lost', () => {
    const stderr = 'ICMP Host Unreachable from 10.9.9.1 for ICMP Echo sent to 10.9.9.9\n10.9.9.9 : - -\n';
    const report = parseFpingOutput(stderr, targets);
    expect(report.targets.get('10.9.9.9')).toEqual({ kind: 'times', times: [null, null], unreachable: 'ICMP Host Unreachable' });
  });

  it('keeps lines about the whole run, and lines about unknown targets, apart', () => {
    const stderr = "fping: can't create socket (must run as root?)\n192.0.2.7 : 0.1\n127.0.0.1 : garbage here\n";
    const report = parseFpingOutput(stderr, targets);
    expect(report.targets.size).toBe(0);
    expect(report.other).toEqual(["fping: can't create socket (must run as root?)", '192.0.2.7 : 0.1', '127.0.0.1 : garbage here']);
  });

  it('gives no result for a target fping never reported', () => {
    expect(parseFpingOutput('', targets).targets.get('127.0.0.1')).toBeUndefined();
  });
});

describe("fping's per-request stdout lines (count mode)", () => {
  it('reads a reply with its round-trip time and a timed-out request as null', () => {
    expect(readReplyLine('127.0.0.1  : [0], 64 bytes, 0.060 ms (0.060 avg, 0% loss)')).toEqual({ target: '127.0.0.1', seq: 0, rttMs: 0.06 });
    expect(readReplyLine('router-1.lab : [1], timed out (NaN avg, 100% loss)')).toEqual({ target: 'router-1.lab', seq: 1, rttMs: null });
  });

  it('ignores the end-of-run report and anything else', () => {
    expect(readReplyLine('127.0.0.1  : 0.060 0.010')).toBeUndefined();
    expect(readReplyLine('')).toBeUndefined();
    expect(readReplyLine('127.0.0.1 : duplicate for [0], 64 bytes, 0.1 ms')).toBeUndefined();
  });
});
