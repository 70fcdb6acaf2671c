import { describe, it, expect } from 'vitest';
import type { UpWhen } from '../../src/config/types.js';
import { combineProbes } from '../../src/probes/combine.js';
import type { ProbeKind, ProbeOutcome, ProbeResult } from '../../src/probes/types.js';

const DETAIL: Record<ProbeKind, Record<ProbeOutcome, [string, string]>> = {
  icmp: { up: ['ok', '3/3 replies'], down: ['no-reply', '0/3 replies'], error: ['icmp-not-permitted', 'ping: socket: Operation not permitted'] },
  snmp: { up: ['ok', 'sysUpTime 100'], down: ['timeout', 'no answer after 1 × 2000 ms'], error: ['socket', 'local socket failure: EMFILE'] },
};

function result(kind: ProbeKind, outcome: ProbeOutcome): ProbeResult {
  const [reason, detail] = DETAIL[kind][outcome];
  return { kind, outcome, reason, detail, durationMs: 1 };
}

const OUTCOMES: ProbeOutcome[] = ['up', 'down', 'error'];

/** The expected verdict for both probes having run, written out as the table users read in the docs. */
const TABLE: Record<UpWhen, (icmp: ProbeOutcome, snmp: ProbeOutcome) => ProbeOutcome> = {
  any: (i, s) => (i === 'up' || s === 'up' ? 'up' : i === 'error' || s === 'error' ? 'error' : 'down'),
  all: (i, s) => (i === 'down' || s === 'down' ? 'down' : i === 'error' || s === 'error' ? 'error' : 'up'),
  icmp: (i) => i,
  snmp: (_i, s) => s,
};

describe('combineProbes: both probes ran', () => {
  for (const upWhen of Object.keys(TABLE) as UpWhen[]) {
    for (const icmp of OUTCOMES) {
      for (const snmp of OUTCOMES) {
        const expected = TABLE[upWhen](icmp, snmp);
        it(`up_when ${upWhen}: icmp ${icmp} + snmp ${snmp} → ${expected}`, () => {
          const verdict = combineProbes(upWhen, { icmp: result('icmp', icmp), snmp: result('snmp', snmp) });
          expect(verdict.outcome).toBe(expected);
        });
      }
    }
  }
});

describe('combineProbes: a device without SNMP credentials is judged by ICMP alone', () => {
  for (const upWhen of Object.keys(TABLE) as UpWhen[]) {
    for (const icmp of OUTCOMES) {
      it(`up_when ${upWhen}: icmp ${icmp} alone → ${icmp}`, () => {
        expect(combineProbes(upWhen, { icmp: result('icmp', icmp) }).outcome).toBe(icmp);
      });
    }
  }

  it('falls back to SNMP when up_when is icmp and ICMP is disabled', () => {
    expect(combineProbes('icmp', { snmp: result('snmp', 'down') }).outcome).toBe('down');
  });

  it('is inconclusive (error), never down, when no probe ran', () => {
    expect(combineProbes('any', {})).toEqual({ outcome: 'error', reason: 'no probe ran' });
  });
});

describe('combineProbes: reasons', () => {
  it('says ok when the device is up', () => {
    expect(combineProbes('all', { icmp: result('icmp', 'up'), snmp: result('snmp', 'up') }).reason).toBe('ok');
  });

  it('names every failing probe and how it failed', () => {
    const verdict = combineProbes('any', { icmp: result('icmp', 'down'), snmp: result('snmp', 'down') });
    expect(verdict.reason).toBe('icmp: no-reply (0/3 replies); snmp: timeout (no answer after 1 × 2000 ms)');
  });

  it('with all, blames only the probe that failed', () => {
    const verdict = combineProbes('all', { icmp: result('icmp', 'up'), snmp: result('snmp', 'down') });
    expect(verdict).toEqual({ outcome: 'down', reason: 'snmp: timeout (no answer after 1 × 2000 ms)' });
  });

  it('with up_when snmp, gives only SNMP\'s reason even when ICMP also failed', () => {
    const verdict = combineProbes('snmp', { icmp: result('icmp', 'down'), snmp: result('snmp', 'error') });
    expect(verdict).toEqual({ outcome: 'error', reason: 'snmp: socket (local socket failure: EMFILE)' });
  });
});
