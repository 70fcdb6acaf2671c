import { describe, expect, it } from 'vitest';
import type { Check, DeviceState } from '../../src/status/machine.js';
import { applyQuorumCheck } from '../../src/status/quorum.js';

const T = { downAfter: 2, upAfter: 1 };
const RULE = { groups: ['a', 'b'], downAt: 2 };
const check = (outcome: Check['outcome'], atMs = 1000): Check => ({ outcome, reason: outcome === 'down' ? 'no-reply' : 'ok', atMs });
const state = (status: DeviceState['status'], s: Partial<DeviceState> = {}): DeviceState => ({ status, failStreak: 0, okStreak: 0, changedAtMs: 0, reason: 'ok', ...s });

describe('quorum transition table: the device follows its groups\' votes', () => {
  it('up, ≥ downAt groups hold it Down: flips Down once, naming each group\'s reason', () => {
    const t = applyQuorumCheck(state('up'), { a: state('down', { reason: 'no-reply' }), b: state('up', { failStreak: 1 }) }, 'b', 'up', check('down'), RULE, T);
    expect(t.flip).toEqual({ from: 'up', to: 'down' });
    expect(t.votes).toEqual({ a: 'down', b: 'down' });
    expect(t.next).toMatchObject({ status: 'down', changedAtMs: 1000, reason: 'a: no-reply; b: no-reply', failStreak: 2, okStreak: 0 });
  });

  it('up, ≥ downAt groups hold it Down while the mass-outage guard holds: stays Up, marked held', () => {
    const t = applyQuorumCheck(state('up'), { a: state('down'), b: state('up', { failStreak: 1 }) }, 'b', 'up', check('down'), RULE, T, true);
    expect(t.flip).toBeUndefined();
    expect(t.held).toBe(true);
    expect(t.next.status).toBe('up');
    expect(t.group.status).toBe('down');
  });

  it('up, < downAt groups hold it Down: stays Up though one group sees it Down', () => {
    const t = applyQuorumCheck(state('up'), { b: state('up') }, 'a', 'up', check('down'), RULE, T);
    const t2 = applyQuorumCheck(t.next, { b: state('up'), a: t.group }, 'a', 'up', check('down', 2000), RULE, T);
    expect(t2.group.status).toBe('down');
    expect(t2.votes).toEqual({ a: 'down', b: 'up' });
    expect(t2.flip).toBeUndefined();
    expect(t2.next).toMatchObject({ status: 'up', failStreak: 1, okStreak: 1 });
  });

  it('down, ≥ downAt groups hold it Down: stays Down', () => {
    const t = applyQuorumCheck(state('down'), { a: state('down'), b: state('down') }, 'a', 'up', check('down'), RULE, T);
    expect(t.flip).toBeUndefined();
    expect(t.next.status).toBe('down');
  });

  it('down, < downAt groups hold it Down: flips Up as soon as one group sees it Up again', () => {
    const t = applyQuorumCheck(state('down'), { a: state('down'), b: state('down') }, 'a', 'down', check('up'), RULE, T);
    expect(t.flip).toEqual({ from: 'down', to: 'up' });
    expect(t.votes).toEqual({ a: 'up', b: 'down' });
    expect(t.next).toMatchObject({ status: 'up', reason: 'ok' });
  });

  it('a group that never checked the device votes the device\'s status: a group without workers moves nothing', () => {
    const one = { groups: ['a', 'b'], downAt: 1 };
    let device: DeviceState | undefined;
    let a: DeviceState | undefined;
    for (let i = 0; i < 5; i++) {
      const t = applyQuorumCheck(device, a ? { a } : {}, 'a', 'up', check('up', i), one, T);
      expect(t.flip).toBeUndefined();
      expect(t.votes).toEqual({ a: 'up', b: 'up' });
      device = t.next;
      a = t.group;
    }
  });

  it('each group has its own hysteresis: one failed check from a group does not make it vote Down', () => {
    const one = { groups: ['a', 'b'], downAt: 1 };
    const t = applyQuorumCheck(state('up'), {}, 'a', 'up', check('down'), one, T);
    expect(t.group).toMatchObject({ status: 'up', failStreak: 1 });
    expect(t.flip).toBeUndefined();
    const t2 = applyQuorumCheck(t.next, { a: t.group }, 'a', 'up', check('down', 2000), one, T);
    expect(t2.flip).toEqual({ from: 'up', to: 'down' });
  });

  it('an error check is the prober\'s fault: no vote moves, the device keeps its status and reason', () => {
    const t = applyQuorumCheck(state('up', { reason: 'seeded' }), { a: state('up') }, 'a', 'up', check('error'), RULE, T);
    expect(t.flip).toBeUndefined();
    expect(t.group).toMatchObject({ status: 'up', failStreak: 0, okStreak: 0 });
    expect(t.next.reason).toBe('seeded');
  });
});
