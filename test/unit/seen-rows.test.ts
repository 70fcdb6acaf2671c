import { describe, expect, it } from 'vitest';
import type { Device } from '../../src/inventory/device.js';
import { fingerprint, SeenRows } from '../../src/inventory/seen-rows.js';

const device = (over: Partial<Device> = {}): Device => ({
  id: 7,
  name: 'core-7',
  target: '127.0.0.7',
  organization: { id: 1, name: 'Acme' },
  type: { id: 2, name: 'Router' },
  inventoryStatus: true,
  updatedAt: '2024-01-01T00:00:00Z',
  snmpCommunity: 'private',
  ...over,
});

/** One field changed at a time, including changes a careless encoding would miss. */
const variants: [string, Partial<Device>][] = [
  ['name', { name: 'core-8' }],
  ['name one character longer', { name: 'core-7x' }],
  ['target', { target: '127.0.0.8' }],
  ['organization id', { organization: { id: 3, name: 'Acme' } }],
  ['organization name', { organization: { id: 1, name: 'Acme2' } }],
  ['organization gone', { organization: null }],
  ['type id', { type: { id: 1, name: 'Router' } }],
  ['type gone', { type: null }],
  ['status false', { inventoryStatus: false }],
  ['status null', { inventoryStatus: null }],
  ['updated_at', { updatedAt: '2024-01-01T00:00:01Z' }],
  ['updated_at null', { updatedAt: null }],
  ['community', { snmpCommunity: 'public' }],
  ['community gone', { snmpCommunity: undefined }],
  ['community empty vs none', { snmpCommunity: '' }],
  ['a character moved between name and target', { name: 'core-', target: '7127.0.0.7' }],
  ['organization and type swapped', { organization: { id: 2, name: 'Router' }, type: { id: 1, name: 'Acme' } }],
  ['a non-ASCII name', { name: 'core-7\u00e9' }],
  ['a character beyond the BMP', { name: 'core-7\u{1F600}' }],
];

describe('SeenRows', () => {
  it('remembers a device the first time its id is seen and calls an equal row a repeat', () => {
    const seen = new SeenRows();
    expect(seen.see(device())).toBe('new');
    // Equal fields in fresh objects: what a shifted list gives when it repeats a row.
    expect(seen.see(device())).toBe('same');
    expect(seen.see(device({ id: 8 }))).toBe('new');
    expect(seen.size).toBe(2);
  });

  it.each(variants)('calls a row that reuses the id with a different %s "different"', (_, change) => {
    const seen = new SeenRows();
    seen.see(device());
    expect(seen.see(device(change))).toBe('different');
    // The first row stays the reference: it is the one probed.
    expect(seen.see(device())).toBe('same');
  });

  it('gives every variant its own fingerprint', () => {
    const prints = new Set([device(), ...variants.map(([, change]) => device(change))].map((d) => fingerprint(d).join(':')));
    expect(prints.size).toBe(variants.length + 1);
  });

  it('tells ids apart beyond 32 bits', () => {
    const seen = new SeenRows();
    expect(seen.see(device({ id: 1 }))).toBe('new');
    expect(seen.see(device({ id: 1 + 2 ** 32 }))).toBe('new');
    expect(fingerprint(device({ id: 1 }))).not.toEqual(fingerprint(device({ id: 1 + 2 ** 32 })));
  });

  it('keeps every fingerprint as its table grows, with no collision among many similar devices', () => {
    const seen = new SeenRows();
    const n = 50_000;
    const fleet = (i: number) => device({ id: i + 1, name: `bench-${i + 1}`, target: `127.${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` });
    for (let i = 0; i < n; i++) expect(seen.see(fleet(i))).toBe('new');
    for (let i = 0; i < n; i += 997) expect(seen.see(fleet(i))).toBe('same');
    // Each id again with the next device's data: all different.
    for (let i = 0; i < n - 1; i += 991) expect(seen.see({ ...fleet(i + 1), id: i + 1 })).toBe('different');
    const prints = new Set(Array.from({ length: n }, (_, i) => fingerprint({ ...fleet(i), id: 1 }).join(':')));
    expect(prints.size).toBe(n);
  });
});
