import { applyCheck, seedState, trackUptime, type Check, type DeviceState, type DeviceStatus, type Thresholds, type Transition } from './machine.js';

/** The verdict each voting group holds on a device, after its own hysteresis. */
export type Votes = Record<string, DeviceStatus>;

export interface QuorumRule {
  groups: string[];
  /** Groups that must hold the device Down for it to be Down. */
  downAt: number;
}

export interface QuorumTransition extends Transition {
  /** The checking group's own hysteresis state after this check. */
  group: DeviceState;
  votes: Votes;
}

/**
 * A check of a device several groups vote on. The checking group's verdict goes through its own
 * hysteresis (`applyCheck` on that group's state); the device's status then follows the votes:
 *
 * | device status | groups holding Down | effect                        |
 * |---------------|---------------------|-------------------------------|
 * | up            | ≥ downAt            | flips Down (held by the guard) |
 * | up            | < downAt            | stays Up                      |
 * | down          | ≥ downAt            | stays Down                    |
 * | down          | < downAt            | flips Up                      |
 *
 * A group that has not checked the device yet votes the device's own status (its seed), so a
 * group without live workers never moves the device either way. An `error` check moves nothing.
 * On the device, failStreak/okStreak count the groups holding it Down/Up.
 */
export function applyQuorumCheck(
  device: DeviceState | undefined,
  groups: Record<string, DeviceState | undefined>,
  group: string,
  seed: DeviceStatus,
  check: Check,
  rule: QuorumRule,
  thresholds: Thresholds,
  holdDown = false,
): QuorumTransition {
  const current = device ?? seedState(seed, check.atMs);
  const own = applyCheck(groups[group], current.status, check, thresholds);
  const states = { ...groups, [group]: own.next };
  const votes: Votes = Object.fromEntries(rule.groups.map((g) => [g, states[g]?.status ?? current.status]));
  const downGroups = rule.groups.filter((g) => votes[g] === 'down');
  const wanted: DeviceStatus = downGroups.length >= rule.downAt ? 'down' : 'up';
  const next: DeviceState = { ...trackUptime(current, check), failStreak: downGroups.length, okStreak: rule.groups.length - downGroups.length };
  const base = { group: own.next, votes, reboot: own.reboot };
  if (wanted === current.status) {
    // As in applyCheck: a check that agrees with the status confirms it (and ends a seed).
    if (check.outcome === wanted) next.reason = reasonOf(wanted, downGroups, states);
    return { ...base, next };
  }
  if (wanted === 'down' && holdDown) return { ...base, next, held: true };
  return {
    ...base,
    next: { ...next, status: wanted, changedAtMs: check.atMs, reason: reasonOf(wanted, downGroups, states) },
    flip: { from: current.status, to: wanted },
  };
}

/** Down: which groups hold it Down and why (`site-a: no-reply; site-b: no-reply`); Up: `ok`. */
function reasonOf(status: DeviceStatus, downGroups: string[], states: Record<string, DeviceState | undefined>): string {
  if (status === 'up') return 'ok';
  return downGroups.map((g) => `${g}: ${states[g]?.reason ?? 'down'}`).join('; ');
}
