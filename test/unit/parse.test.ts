import { describe, expect, it } from 'vitest';
import { MalformedPageError } from '../../src/inventory/errors.js';
import { parseDevice, parsePage, rowIdentity } from '../../src/inventory/parse.js';

/** A list row as the spec's example shows it. */
const row = (overrides: Record<string, unknown> = {}) => ({
  id: 1001,
  name: 'core-router-01',
  hostname: '192.168.1.1',
  serial_number: 'RT5500-ABC123',
  type: { id: 1, name: 'Router', model: 'Cisco ISR 4451' },
  organization: { id: 123, name: 'Headquarters Network' },
  status: true,
  last_status_change: '2024-01-15T08:30:00Z',
  pending_config: false,
  location: 'Data Center A - Rack 10',
  created_at: '2024-01-10T14:20:00Z',
  updated_at: '2024-01-15T08:30:00Z',
  ...overrides,
});

function malformed(body: unknown, offset = 40, limit = 20): MalformedPageError {
  try {
    parsePage(body, offset, limit);
  } catch (err) {
    if (err instanceof MalformedPageError) return err;
    throw err;
  }
  throw new Error('expected MalformedPageError');
}

describe('parsePage: a list page that breaks the spec stops the sweep with the page offset', () => {
  it('accepts the spec example envelope', () => {
    const page = parsePage({ count: 156, next: 'https://x/api/v1/inventory_device/?offset=20', previous: null, results: [row()] }, 0, 20);
    expect(page).toEqual({ count: 156, next: 'https://x/api/v1/inventory_device/?offset=20', rows: [row()] });
  });

  it.each([[null], ['[]'], [[]], [42], ['<html>']])('rejects the non-object body %j', (body) => {
    const err = malformed(body);
    expect(err.offset).toBe(40);
    expect(err.kind).toBe('malformed_page');
    expect(err.message).toContain('offset 40');
  });

  it.each([[-1], [1.5], ['156'], [null], [undefined], [Number.MAX_SAFE_INTEGER + 2]])('rejects count %j', (count) => {
    expect(malformed({ count, results: [] }).problem).toContain('count');
  });

  it('rejects an absurdly huge count instead of paging forever', () => {
    expect(malformed({ count: 10_000_001, results: [] }).problem).toContain('implausibly large');
  });

  it.each([[null], [{}], ['rows'], [undefined]])('rejects results %j', (results) => {
    expect(malformed({ count: 3, results }).problem).toContain('results');
  });

  it('rejects more results than the limit asked for', () => {
    expect(malformed({ count: 50, results: [row(), row(), row()] }, 0, 2).problem).toContain('limit 2');
  });

  it('treats a non-string next as absent rather than following it', () => {
    expect(parsePage({ count: 0, next: 7, results: [] }, 0, 20).next).toBeNull();
  });
});

describe('parseDevice: a malformed row is skipped with a reason, never probed', () => {
  it('turns the spec list row into a Device probed at its hostname with the default community', () => {
    expect(parseDevice(row())).toEqual({
      ok: true,
      device: {
        id: 1001,
        name: 'core-router-01',
        target: '192.168.1.1',
        organization: { id: 123, name: 'Headquarters Network' },
        type: { id: 1, name: 'Router' },
        inventoryStatus: true,
        updatedAt: '2024-01-15T08:30:00Z',
        snmpCommunity: undefined,
      },
    });
  });

  it('probes management_ip when set, and uses the device community', () => {
    const parsed = parseDevice(row({ management_ip: '192.168.100.1', snmp_community: 'public' }));
    expect(parsed).toMatchObject({ ok: true, device: { target: '192.168.100.1', snmpCommunity: 'public' } });
  });

  it('falls back to hostname when management_ip is empty or null', () => {
    expect(parseDevice(row({ management_ip: '' }))).toMatchObject({ device: { target: '192.168.1.1' } });
    expect(parseDevice(row({ management_ip: null }))).toMatchObject({ device: { target: '192.168.1.1' } });
  });

  it('accepts null status, organization, type and updated_at as "unknown"', () => {
    const parsed = parseDevice(row({ status: null, organization: null, type: undefined, updated_at: null }));
    expect(parsed).toMatchObject({ ok: true, device: { inventoryStatus: null, organization: null, type: null, updatedAt: null } });
  });

  it('names a nameless device after its target', () => {
    expect(parseDevice(row({ name: null }))).toMatchObject({ device: { name: '192.168.1.1' } });
  });

  it.each([
    ['null row', null, 'not_object'],
    ['array row', [1001], 'not_object'],
    ['missing id', row({ id: undefined }), 'invalid_id'],
    ['string id', row({ id: '1001' }), 'invalid_id'],
    ['zero id', row({ id: 0 }), 'invalid_id'],
    ['fractional id', row({ id: 1.5 }), 'invalid_id'],
  ])('skips a %s without an id', (_label, input, code) => {
    const parsed = parseDevice(input);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.reason.split(':')[0]).toBe(code);
      expect(parsed.id).toBeUndefined();
    }
  });

  it.each([
    ['numeric name', { name: 42 }, 'invalid_name'],
    ['string status', { status: 'up' }, 'invalid_status'],
    ['numeric status', { status: 1 }, 'invalid_status'],
    ['organization as a bare id', { organization: 123 }, 'invalid_organization'],
    ['organization without a name', { organization: { id: 123 } }, 'invalid_organization'],
    ['type with a string id', { type: { id: '1', name: 'Router' } }, 'invalid_type'],
    ['numeric updated_at', { updated_at: 1705307400 }, 'invalid_updated_at'],
    ['missing hostname', { hostname: undefined }, 'invalid_target'],
    ['option-like hostname', { hostname: '-f' }, 'invalid_target'],
    ['shell hostname', { hostname: '$(reboot)' }, 'invalid_target'],
    ['unsafe management_ip with a good hostname', { management_ip: '--help' }, 'invalid_target'],
    ['numeric community', { snmp_community: 12345 }, 'invalid_community'],
  ])('skips a row with %s, keeping its id for the log', (_label, overrides, code) => {
    const parsed = parseDevice(row(overrides));
    expect(parsed).toMatchObject({ ok: false, id: 1001 });
    if (!parsed.ok) expect(parsed.reason.split(':')[0]).toBe(code);
  });

  it.each([
    ['a NUL byte', 'pub\u0000lic'],
    ['a newline', 'public\nrw'],
    ['an escape sequence', 'pub\u001b[2Jlic'],
    ['DEL', 'public\u007f'],
    ['more than 255 characters', 's3cr3t'.repeat(50)],
  ])('rejects a community with %s without echoing it', (_label, community) => {
    const parsed = parseDevice(row({ snmp_community: community }));
    expect(parsed).toMatchObject({ ok: false, id: 1001, reason: expect.stringMatching(/^invalid_community:/) });
    if (!parsed.ok) {
      expect(parsed.reason).not.toContain(community);
      expect(parsed.reason).not.toContain('pub');
      expect(parsed.reason).not.toContain('s3cr3t');
    }
  });

  it('does not echo a numeric community either', () => {
    const parsed = parseDevice(row({ snmp_community: 987654 }));
    expect(JSON.stringify(parsed)).not.toContain('987654');
  });
});

describe('rowIdentity: how a skipped row is named in its log line', () => {
  it('gives the id as received, as JSON, and the name; never the hostname or community', () => {
    expect(rowIdentity({ id: 'dev-1007', name: 'core-sw-7', hostname: '$(reboot)', snmp_community: 's3cret' })).toEqual({ rowId: '"dev-1007"', rowName: 'core-sw-7' });
    expect(rowIdentity({ id: 1007, hostname: '-f' })).toEqual({ rowId: '1007' });
    expect(rowIdentity({ id: null, name: '' })).toEqual({ rowId: 'null' });
    expect(rowIdentity({ hostname: 'a'.repeat(300) })).toEqual({});
    expect(rowIdentity('not a device')).toEqual({});
  });

  it('escapes control characters and quotes, and cuts each value to 64 characters', () => {
    const identity = rowIdentity({ id: { nested: 'x'.repeat(100) }, name: 'sw\u001b[2J"7"' });
    expect(identity.rowName).toBe('sw\\u001b[2J\\"7\\"');
    expect(identity.rowId).toHaveLength(64);
    expect(identity.rowId?.endsWith('…')).toBe(true);
    expect(rowIdentity({ id: 1, name: 'n'.repeat(200) }).rowName).toBe(`${'n'.repeat(63)}…`);
  });
});
