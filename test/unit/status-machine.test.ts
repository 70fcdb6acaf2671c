import { describe, expect, it } from 'vitest';
import { applyCheck, isReboot, type Check, type DeviceState } from '../../src/status/machine.js';

const T = { downAfter: 3, upAfter: 1 };
const at = (atMs: number, outcome: Check['outcome'], extra: Partial<Check> = {}): Check => ({ outcome, reason: `${outcome}-reason`, atMs, ...extra });
const state = (s: Partial<DeviceState> = {}): DeviceState => ({ status: 'up', failStreak: 0, okStreak: 0, changedAtMs: 0, reason: 'seeded', ...s });

function run(checks: Check['outcome'][], start: DeviceState | undefined, thresholds = T) {
  let current = start;
  const flips: string[] = [];
  checks.forEach((outcome, i) => {
    const t = applyCheck(current, 'up', at(i * 1000, outcome), thresholds);
    if (t.flip) flips.push(`${t.flip.from}->${t.flip.to}@${i}`);
    current = t.next;
  });
  return { flips, state: current as DeviceState };
}

describe('hysteresis transition table', () => {
  it('up + up: stays up and counts the good streak', () => {
    const t = applyCheck(state({ failStreak: 2 }), 'up', at(5, 'up'), T);
    expect(t.flip).toBeUndefined();
    expect(t.next).toMatchObject({ status: 'up', okStreak: 1, failStreak: 0 });
  });

  it('up + down: suspect only, until down_after consecutive failures flip it Down', () => {
    const { flips, state: s } = run(['down', 'down', 'down'], state());
    expect(flips).toEqual(['up->down@2']);
    expect(s).toMatchObject({ status: 'down', failStreak: 3, changedAtMs: 2000, reason: 'down-reason' });
  });

  it('up + down: a good check in between resets the failure streak', () => {
    expect(run(['down', 'down', 'up', 'down', 'down'], state()).flips).toEqual([]);
  });

  it('down + down: stays down, never flips again', () => {
    const { flips, state: s } = run(['down', 'down', 'down', 'down'], state({ status: 'down' }));
    expect(flips).toEqual([]);
    expect(s.status).toBe('down');
  });

  it('down + up: flips Up after up_after consecutive good checks', () => {
    expect(run(['up'], state({ status: 'down' })).flips).toEqual(['down->up@0']);
    expect(run(['up', 'down', 'up', 'up'], state({ status: 'down' }), { downAfter: 3, upAfter: 2 }).flips).toEqual(['down->up@3']);
  });

  it('error: changes nothing, whatever the status, so the prober\'s faults never count against a device', () => {
    for (const status of ['up', 'down'] as const) {
      const before = state({ status, failStreak: 2, okStreak: 0 });
      const t = applyCheck(before, 'up', at(9, 'error'), T);
      expect(t.flip).toBeUndefined();
      expect(t.next).toEqual(before);
    }
    expect(run(['down', 'down', 'error', 'error', 'down'], state()).flips).toEqual(['up->down@4']);
  });

  it('a new device starts in the inventory\'s status, so a steady fleet causes no flip', () => {
    const t = applyCheck(undefined, 'down', at(7, 'down'), T);
    expect(t.flip).toBeUndefined();
    expect(t.next).toMatchObject({ status: 'down', failStreak: 1, changedAtMs: 7 });
  });

  it('a device answering every other check never flips with default hysteresis', () => {
    const flapping = Array.from({ length: 40 }, (_, i) => (i % 2 ? 'up' : 'down') as Check['outcome']);
    expect(run(flapping, state()).flips).toEqual([]);
  });

  it('one lost check on a stable device never flips it', () => {
    expect(run(['up', 'down', 'up', 'up'], state()).flips).toEqual([]);
  });
});

describe('reboot detection from sysUpTime', () => {
  const seen = (ticks: number, atMs: number) => state({ uptimeTicks: ticks, uptimeAtMs: atMs });

  it('uptime going backwards is a reboot, and is reported without flipping the device', () => {
    const t = applyCheck(seen(500_000, 0), 'up', at(60_000, 'up', { uptimeTicks: 100 }), T);
    expect(t.reboot).toBe(true);
    expect(t.flip).toBeUndefined();
    expect(t.next.uptimeTicks).toBe(100);
  });

  it('uptime moving forward is not a reboot', () => {
    expect(isReboot(seen(500_000, 0), at(60_000, 'up', { uptimeTicks: 506_000 }))).toBe(false);
  });

  it('the 2^32 wrap after ~497 days is not a reboot', () => {
    const before = 2 ** 32 - 3_000; // 30 s before the wrap
    expect(isReboot(seen(before, 0), at(60_000, 'up', { uptimeTicks: 3_000 }))).toBe(false);
  });

  it('a reboot right after a wrap is still a reboot', () => {
    const before = 2 ** 32 - 3_000;
    expect(isReboot(seen(before, 0), at(3_600_000, 'up', { uptimeTicks: 50 }))).toBe(true);
  });

  it('no previous reading: nothing to compare, no reboot', () => {
    expect(isReboot(state(), at(1, 'up', { uptimeTicks: 5 }))).toBe(false);
  });
});

describe('mass-outage guard hold', () => {
  it('a held Down flip keeps the device Up with its failure streak, and flips on the first check after the hold lifts', () => {
    let s = state();
    for (let i = 0; i < 4; i++) {
      const t = applyCheck(s, 'up', at(i, 'down'), T, true);
      expect(t.flip).toBeUndefined();
      expect(t.held ?? false).toBe(i >= 2);
      s = t.next;
    }
    expect(s).toMatchObject({ status: 'up', failStreak: 4 });
    const released = applyCheck(s, 'up', at(5, 'down'), T, false);
    expect(released.flip).toEqual({ from: 'up', to: 'down' });
  });

  it('never holds an Up flip: recoveries always go through', () => {
    const t = applyCheck(state({ status: 'down' }), 'up', at(1, 'up'), T, true);
    expect(t.flip).toEqual({ from: 'down', to: 'up' });
  });
});
