import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { InventoryHttpError } from '../../src/inventory/errors.js';
import { createLogger } from '../../src/log/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('info', sink), lines };
}

describe('logged errors', () => {
  it('carry type, kind, status, message and stack, with every cause\'s message and stack', () => {
    const { logger, lines } = capture();
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const err = new InventoryHttpError({ status: 503, method: 'PATCH', path: '/api/v1/devices/7' });
    Object.defineProperty(err, 'cause', { value: cause });
    logger.warn({ deviceId: 7, err }, 'status PATCH failed; will retry with backoff');
    const logged = lines[0]?.err as Record<string, string | number>;
    expect(logged).toMatchObject({ type: 'InventoryHttpError', kind: 'server_error', status: 503 });
    expect(logged.message).toContain('inventory server error (503 on PATCH /api/v1/devices/7)');
    expect(logged.message).toContain('ECONNREFUSED');
    expect(logged.stack).toContain('caused by: Error: connect ECONNREFUSED');
    expect(logged.stack).toMatch(/\n\s+at /);
  });

  it('leave out every other property a library error carries, such as the Redis command it failed on', () => {
    const { logger, lines } = capture();
    const err = Object.assign(new Error('READONLY You can\'t write against a read only replica.'), {
      code: 'READONLY',
      command: { name: 'hset', args: ['ip:detail:7', 'snmp_community', 'comm-SECRET-in-args'] },
    });
    logger.error({ err }, 'sweep failed; no device changed because of it');
    expect(JSON.stringify(lines[0])).not.toContain('comm-SECRET-in-args');
    expect(lines[0]?.err).toMatchObject({ type: 'Error', code: 'READONLY' });
  });
});
