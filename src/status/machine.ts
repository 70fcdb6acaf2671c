import type { ProbeOutcome } from '../probes/types.js';

export type DeviceStatus = 'up' | 'down';

/** What the prober knows about one device between checks; lives in Redis, shared by all workers. */
export interface DeviceState {
  status: DeviceStatus;
  /** Consecutive checks whose verdict was `down`. */
  failStreak: number;
  /** Consecutive checks whose verdict was `up`. */
  okStreak: number;
  /** When `status` last changed (or the state was first seeded), ms since epoch. */
  changedAtMs: number;
  /** Why the device is in its status: the failing probes' reasons, or `ok`. */
  reason: string;
  /** sysUpTime.0 of the last SNMP answer (TimeTicks), with the time it was read. */
  uptimeTicks?: number;
  uptimeAtMs?: number;
}

export interface Check {
  outcome: ProbeOutcome;
  reason: string;
  atMs: number;
  uptimeTicks?: number;
}

export interface Thresholds {
  downAfter: number;
  upAfter: number;
}

export interface Transition {
  next: DeviceState;
  flip?: { from: DeviceStatus; to: DeviceStatus };
  reboot: boolean;
  /** A Down flip the mass-outage guard held back: the device stays Up, its failure streak kept. */
  held?: boolean;
}

/**
 * The reason a state carries from its seed until a check agrees with its status or flips it:
 * until then the status is the inventory's word (possibly a stale read), not a decision of ours.
 */
export const SEEDED_REASON = 'seeded';

/**
 * Transition table (down_after = D, up_after = U):
 *
 * | status | verdict | effect                                   | flips when            |
 * |--------|---------|------------------------------------------|-----------------------|
 * | up     | up      | okStreak+1, failStreak=0                  | never                 |
 * | up     | down    | failStreak+1, okStreak=0                  | failStreak reaches D  |
 * | down   | down    | failStreak+1, okStreak=0                  | never                 |
 * | down   | up      | okStreak+1, failStreak=0                  | okStreak reaches U    |
 * | any    | error   | nothing: the prober's fault is not the device's | never          |
 *
 * A device seen for the first time starts in the status the inventory reports (`seed`), so a
 * steady fleet causes no writes on the prober's first cycle. With `holdDown` (the mass-outage
 * guard), an up → down flip is held: the streak keeps growing, so the flip happens on the first
 * check after the guard lifts.
 */
export function applyCheck(
  prev: DeviceState | undefined,
  seed: DeviceStatus,
  check: Check,
  thresholds: Thresholds,
  holdDown = false,
): Transition {
  const state = prev ?? seedState(seed, check.atMs);
  const reboot = isReboot(state, check);
  const withUptime = trackUptime(state, check);
  if (check.outcome === 'error') return { next: withUptime, reboot };

  const good = check.outcome === 'up';
  const next: DeviceState = {
    ...withUptime,
    okStreak: good ? state.okStreak + 1 : 0,
    failStreak: good ? 0 : state.failStreak + 1,
  };
  const wanted: DeviceStatus = good ? 'up' : 'down';
  const streak = good ? next.okStreak : next.failStreak;
  const needed = good ? thresholds.upAfter : thresholds.downAfter;
  if (wanted !== state.status && streak >= needed) {
    if (wanted === 'down' && holdDown) return { next, reboot, held: true };
    return {
      next: { ...next, status: wanted, changedAtMs: check.atMs, reason: check.reason },
      flip: { from: state.status, to: wanted },
      reboot,
    };
  }
  if (wanted === state.status) next.reason = check.reason;
  return { next, reboot };
}

/** A device first seen: the inventory's status, not yet confirmed by a check. */
export const seedState = (status: DeviceStatus, atMs: number): DeviceState => ({ status, failStreak: 0, okStreak: 0, changedAtMs: atMs, reason: SEEDED_REASON });

export function trackUptime(state: DeviceState, check: Check): DeviceState {
  if (check.uptimeTicks === undefined) return state;
  return { ...state, uptimeTicks: check.uptimeTicks, uptimeAtMs: check.atMs };
}

const TICKS_WRAP = 2 ** 32;
/** Slack for clock skew and agent jitter when telling a 2^32 wrap from a reboot: 10 minutes. */
const WRAP_TOLERANCE_TICKS = 60_000;

/**
 * sysUpTime is the agent's uptime in hundredths of a second, a 32-bit counter that wraps
 * after ~497 days. Going backwards is a reboot, unless the elapsed time explains a wrap.
 */
export function isReboot(state: DeviceState, check: Check): boolean {
  const before = state.uptimeTicks;
  const now = check.uptimeTicks;
  if (before === undefined || now === undefined || state.uptimeAtMs === undefined) return false;
  if (now >= before) return false;
  const elapsedTicks = Math.max(0, Math.round((check.atMs - state.uptimeAtMs) / 10));
  const wrapped = before + elapsedTicks >= TICKS_WRAP - WRAP_TOLERANCE_TICKS;
  if (!wrapped) return true;
  const expected = (before + elapsedTicks) % TICKS_WRAP;
  const gap = Math.abs(now - expected);
  return Math.min(gap, TICKS_WRAP - gap) > WRAP_TOLERANCE_TICKS;
}
