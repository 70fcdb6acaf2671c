import { describe, expect, it } from 'vitest';
import { validateTarget } from '../../src/inventory/target.js';

describe('validateTarget: what may reach ping and SNMP as a target', () => {
  it.each([
    ['192.168.1.1'],
    ['127.0.0.1'],
    ['0.0.0.0'],
    ['::1'],
    ['2001:db8::42'],
    ['::ffff:192.0.2.1'],
    ['router'],
    ['core-router-01.example.com'],
    ['xn--bcher-kva.example'],
    ['a.b'],
    ['Router-01.Example.COM'],
    ['host.example.com.'],
    [`${'a'.repeat(63)}.example.com`],
  ])('accepts %s unchanged', (value) => {
    expect(validateTarget(value)).toEqual({ ok: true, target: value });
  });

  it('accepts a hostname of exactly 253 characters', () => {
    const name = [`${'a'.repeat(61)}`, 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(63)].join('.');
    expect(name).toHaveLength(253);
    expect(validateTarget(name).ok).toBe(true);
  });

  it.each([
    ['-f', 'option'],
    ['--help', 'option'],
    ['-c1000', 'option'],
    ['a b', 'whitespace'],
    ['$(reboot)', 'RFC 1123'],
    [';reboot', 'RFC 1123'],
    ['host;reboot', 'RFC 1123'],
    ['`reboot`', 'RFC 1123'],
    ['host\nname', 'control'],
    ['ρουτερ.example', 'non-ASCII'],
    ['routér', 'non-ASCII'],
    ['', 'empty'],
    ['.', 'empty'],
    ['a..b', 'empty label'],
    ['-router.example', 'option'],
    ['router-.example', 'RFC 1123'],
    ['router.-example', 'RFC 1123'],
    ['under_score.example', 'RFC 1123'],
    ['x'.repeat(300), 'longer than 253'],
    [`${'a'.repeat(64)}.example`, 'label longer than 63'],
    ['127.1', 'malformed IP'],
    ['010.1.1.1', 'malformed IP'],
    ['1.2.3.4.5', 'malformed IP'],
    ['0x7f000001', 'malformed IP'],
    ['fe80::1%eth0', 'zone'],
    ['[::1]', 'RFC 1123'],
    ['http://router', 'RFC 1123'],
  ])('rejects %j with a reason', (value, reasonPart) => {
    const check = validateTarget(value);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.reason).toContain(reasonPart);
  });

  it.each([[null], [undefined], [42], [{}], [['127.0.0.1']]])('rejects the non-string %j', (value) => {
    const check = validateTarget(value);
    expect(check).toMatchObject({ ok: false, reason: expect.stringContaining('not a string') });
  });

  it('never repeats the rejected value in its reason, so hostile input is not logged', () => {
    for (const value of ['$(reboot)', '-f', 'a b', 'x'.repeat(300)]) {
      const check = validateTarget(value);
      if (check.ok) throw new Error('expected rejection');
      expect(check.reason).not.toContain(value);
    }
  });
});
