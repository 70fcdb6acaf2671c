import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/types.js';
import { InventoryHttpError, InventoryNetworkError } from '../../src/inventory/errors.js';
import { reportBackoffMs } from '../../src/reporter/report-queue.js';

const config = { ...DEFAULTS, reporter: { ...DEFAULTS.reporter, backoff_ms: 1_000, max_backoff_ms: 60_000 } } as unknown as Config;
const noJitter = () => 1;

describe('PATCH retry backoff', () => {
  it('doubles per attempt up to the cap', () => {
    expect([1, 2, 3, 10].map((n) => reportBackoffMs(config, n, undefined, noJitter))).toEqual([1_000, 2_000, 4_000, 60_000]);
  });

  it('waits at least the Retry-After of a 429, capped', () => {
    const throttled = (retryAfterMs: number) => new InventoryHttpError({ status: 429, method: 'PATCH', path: '/devices/7', retryAfterMs });
    expect(reportBackoffMs(config, 1, throttled(9_000), noJitter)).toBe(9_000);
    expect(reportBackoffMs(config, 1, throttled(600_000), noJitter)).toBe(60_000);
  });

  it('takes a delay only from an inventory HTTP error, never from a field another error happens to carry', () => {
    const other = Object.assign(new InventoryNetworkError('reset', 'PATCH', '/devices/7'), { retryAfterMs: 30_000 });
    expect(reportBackoffMs(config, 1, other, noJitter)).toBe(1_000);
  });
});
