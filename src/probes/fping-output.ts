/**
 * The two ends of one fping run that need no process: the argv we build and the text fping
 * leaves on stderr. Kept apart from the batching engine (fping.ts) so both are tested as plain
 * functions against fping 5.1's real formats.
 */

export interface FpingTiming {
  /** Echo requests per target (`-C`). */
  count: number;
  /** How long one echo request waits for its reply (`-t`); later replies are discarded by fping. */
  timeoutMs: number;
  /** Gap between any two packets this process sends (`-i`), so a batch never bursts. */
  intervalMs: number;
  /** Gap between two echo requests to the same target (`-p`). */
  periodMs: number;
}

/**
 * The argv for one fping over `addresses`. Every flag is explicit, so a distribution's
 * defaults or an /etc/fping.conf cannot change what a check means:
 *
 * - `-C n`  count mode with the per-ping report: one stderr line per target at exit,
 *           `<target> : <rtt ms or -> …`, one field per echo request.
 * - `-t ms` per-request timeout; in count mode fping would otherwise derive it from `-p`.
 * - `-r 0`  no retries (they only apply outside count mode; explicit so nothing resends).
 * - `-i ms` spacing of all packets of this process; ≥ 1 keeps us within builds compiled with
 *           FPING_SAFE_LIMITS ("too risky for mere mortals" below 1 ms for non-root).
 * - `-p ms` spacing per target; ≥ 10 for the same reason.
 * - no `-q`: it would also silence the per-target warnings ("name: Name or service not known")
 *   and the fatal "can't create socket" line, which is how we tell unknown names and missing
 *   ICMP permission apart. The per-ping lines it adds go to stdout, where they let a target
 *   be settled as soon as all of its echo requests are answered (see `readReplyLine`).
 * - `--`    ends the options: fping 5.1's optparse stops there, so nothing after it is a flag.
 *           Callers still refuse addresses starting with `-` before they get here.
 */
export function fpingArgs(addresses: readonly string[], timing: FpingTiming): string[] {
  return [
    '-C', String(timing.count),
    '-t', String(timing.timeoutMs),
    '-r', '0',
    '-i', String(Math.max(1, timing.intervalMs)),
    '-p', String(Math.max(10, timing.periodMs)),
    '--',
    ...addresses,
  ];
}

/** What fping said about one target. */
export type FpingTargetReport =
  /** Round-trip times in ms per echo request, `null` for a lost one. */
  | { kind: 'times'; times: (number | null)[]; unreachable?: string }
  /** The name did not resolve: a fact about the target. */
  | { kind: 'unresolvable'; message: string }
  /** The resolver itself failed (EAI_AGAIN): the prober's problem. */
  | { kind: 'resolver-failed'; message: string };

export interface FpingReport {
  targets: Map<string, FpingTargetReport>;
  /** Lines about the run as a whole ("fping: can't create socket (must run as root?)"), or ones we do not recognise. */
  other: string[];
}

const RESOLVER_DOWN = /Temporary failure in name resolution|Try again/i;
// "ICMP Host Unreachable from 10.0.0.1 for ICMP Echo sent to 10.0.0.9": no echo will come back.
const ICMP_ERROR = /^(ICMP .+) from (\S+) for ICMP Echo sent to (\S+)$/;

/**
 * Reads fping's stderr for the `targets` of one run. Lines are told apart by their shape:
 *
 * | shape                                   | meaning                                         |
 * |-----------------------------------------|-------------------------------------------------|
 * | `<target> : 0.03 - 0.05` (padded name)  | the count report: one field per echo request    |
 * | `<target> : duplicate for [0], …`       | a duplicate reply; the report already counts it |
 * | `<target>: <resolver message>`          | the name did not resolve (or the resolver broke)|
 * | `ICMP … from X for ICMP Echo sent to T` | an ICMP error for T; kept as a hint             |
 * | anything else                           | about the whole run; kept in `other`            |
 */
export function parseFpingOutput(stderr: string, targets: readonly string[]): FpingReport {
  const known = new Set(targets);
  const report: FpingReport = { targets: new Map(), other: [] };
  const hints = new Map<string, string>();
  for (const raw of stderr.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (!readLine(line, known, report, hints)) report.other.push(line);
  }
  for (const [target, hint] of hints) {
    const entry = report.targets.get(target);
    if (entry?.kind === 'times') entry.unreachable = hint;
  }
  return report;
}

/** Files one line into the report; false when it is not about a single known target. */
function readLine(line: string, known: Set<string>, report: FpingReport, hints: Map<string, string>): boolean {
  const icmp = ICMP_ERROR.exec(line);
  if (icmp) {
    const [, what, , target] = icmp as unknown as [string, string, string, string];
    if (!known.has(target)) return false;
    hints.set(target, what);
    return true;
  }
  const colon = /^(\S+?)\s*:\s(.*)$/.exec(line) ?? /^(\S+?)\s*:$/.exec(line);
  if (!colon || !known.has(colon[1] as string)) return false;
  const target = colon[1] as string;
  const rest = (colon[2] ?? '').trim();
  if (rest.startsWith('duplicate for')) return true;
  const times = replyTimes(rest);
  if (times) {
    report.targets.set(target, { kind: 'times', times });
    return true;
  }
  // Only a `name: message` line (no space before the colon) is fping's resolver warning.
  if (!line.startsWith(`${target}: `)) return false;
  report.targets.set(target, RESOLVER_DOWN.test(rest) ? { kind: 'resolver-failed', message: rest } : { kind: 'unresolvable', message: rest });
  return true;
}

/** `0.031 - 1.20` → [0.031, null, 1.2]; undefined when any field is neither a number nor `-`. */
function replyTimes(fields: string): (number | null)[] | undefined {
  const tokens = fields === '' ? [] : fields.split(/\s+/);
  const times: (number | null)[] = [];
  for (const token of tokens) {
    if (token === '-') {
      times.push(null);
      continue;
    }
    const ms = Number(token);
    if (!/^[0-9.eE+-]+$/.test(token) || !Number.isFinite(ms)) return undefined;
    times.push(ms);
  }
  return times;
}

/** One stdout line of a count-mode run: echo request `seq` to `target` came back (`rttMs`) or timed out (null). */
export interface FpingReplyLine {
  target: string;
  seq: number;
  rttMs: number | null;
}

// "127.0.0.1  : [0], 64 bytes, 0.060 ms (0.060 avg, 0% loss)" or "198.18.0.1 : [1], timed out (NaN avg, 100% loss)"
const REPLY_LINE = /^(\S+)\s+: \[(\d+)\], (?:\d+ bytes, ([0-9.]+) ms|timed out)/;

/** Reads one of fping's per-request stdout lines; undefined for any other line. */
export function readReplyLine(line: string): FpingReplyLine | undefined {
  const m = REPLY_LINE.exec(line.trim());
  if (!m) return undefined;
  const rttMs = m[3] === undefined ? null : Number(m[3]);
  if (rttMs !== null && !Number.isFinite(rttMs)) return undefined;
  return { target: m[1] as string, seq: Number(m[2]), rttMs };
}
