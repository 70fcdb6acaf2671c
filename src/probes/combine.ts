import type { UpWhen } from '../config/types.js';
import type { ProbeKind, ProbeOutcome, ProbeResult } from './types.js';

export interface Verdict {
  outcome: ProbeOutcome;
  /** `ok`, or which probes failed how: "icmp: no-reply (0/3 replies); snmp: timeout (no answer after 2 × 2000 ms)". */
  reason: string;
}

export type ProbeResults = Partial<Record<ProbeKind, ProbeResult>>;

const ORDER: readonly ProbeKind[] = ['icmp', 'snmp'];

/**
 * Folds the probes of one check into the device's verdict. Only probes that ran count, so a
 * device without SNMP credentials is judged by ICMP alone whatever `up_when` says.
 *
 * | up_when   | up when              | else                                   |
 * |-----------|----------------------|----------------------------------------|
 * | any       | any probe up         | error if any error, else down          |
 * | all       | no probe down/error  | down if any down, else error           |
 * | icmp/snmp | that probe up        | that probe's outcome; if it did not run, the other's |
 *
 * `error` (the prober's own fault) never outranks a fact about the device: with `any` one `up`
 * wins, with `all` one `down` wins.
 */
export function combineProbes(upWhen: UpWhen, results: ProbeResults): Verdict {
  const ran = ORDER.map((kind) => results[kind]).filter((r): r is ProbeResult => r !== undefined);
  if (ran.length === 0) return { outcome: 'error', reason: 'no probe ran' };
  const counted = upWhen === 'icmp' || upWhen === 'snmp' ? chosen(upWhen, results, ran) : ran;
  const outcome = upWhen === 'all' ? allOf(counted) : anyOf(counted);
  return { outcome, reason: outcome === 'up' ? 'ok' : describeFailures(counted) };
}

/** The probe `up_when` names, or, when it did not run (no credentials, disabled), the others. */
function chosen(kind: ProbeKind, results: ProbeResults, ran: ProbeResult[]): ProbeResult[] {
  const result = results[kind];
  return result ? [result] : ran;
}

function anyOf(results: ProbeResult[]): ProbeOutcome {
  if (results.some((r) => r.outcome === 'up')) return 'up';
  return results.some((r) => r.outcome === 'error') ? 'error' : 'down';
}

function allOf(results: ProbeResult[]): ProbeOutcome {
  if (results.some((r) => r.outcome === 'down')) return 'down';
  return results.some((r) => r.outcome === 'error') ? 'error' : 'up';
}

/** Names each probe that did not come back up, and how. */
function describeFailures(results: ProbeResult[]): string {
  return results
    .filter((r) => r.outcome !== 'up')
    .map((r) => `${r.kind}: ${r.reason}${r.detail ? ` (${r.detail})` : ''}`)
    .join('; ');
}
