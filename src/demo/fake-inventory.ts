/**
 * The inventory spec's data rules, apart from HTTP: the list and detail shapes, query
 * validation and PATCH semantics. Used by the test/demo server in inventory-server.ts.
 */

export interface FakeDevice {
  id: number;
  name: string;
  hostname: string;
  serial_number?: string;
  type: { id: number; name: string; model?: string } | null;
  organization: { id: number; name: string } | null;
  status: boolean | null;
  last_status_change: string | null;
  pending_config?: boolean;
  location?: string;
  created_at: string;
  updated_at: string;
  /** Detail-only, as in the spec: list rows never carry it. */
  management_ip?: string | null;
  /** Detail-only, as in the spec: list rows never carry it. */
  snmp_community?: string | null;
}

export interface Reply {
  status: number;
  body: unknown;
}

const MAX_LIMIT = 100;
const DEFAULT_LIMIT = 20;
const TRUE_VALUES = new Set(['1', 'true', 'True']);
const FALSE_VALUES = new Set(['0', 'false', 'False']);
const UINT = /^\d+$/;

/** The list row of the spec's example: no management_ip, no snmp_community. */
export function listRow(d: FakeDevice): Record<string, unknown> {
  return {
    id: d.id,
    name: d.name,
    hostname: d.hostname,
    serial_number: d.serial_number ?? `SN-${d.id}`,
    type: d.type,
    organization: d.organization,
    status: d.status,
    last_status_change: d.last_status_change,
    pending_config: d.pending_config ?? false,
    location: d.location ?? '',
    created_at: d.created_at,
    updated_at: d.updated_at,
  };
}

export function detailRow(d: FakeDevice): Record<string, unknown> {
  const row = listRow(d);
  if (d.management_ip !== undefined) row.management_ip = d.management_ip;
  if (d.snmp_community !== undefined) row.snmp_community = d.snmp_community;
  return row;
}

/** A list row that also carries the detail-only fields (null when the device has none). */
export function fullListRow(d: FakeDevice): Record<string, unknown> {
  return { ...listRow(d), management_ip: d.management_ip ?? null, snmp_community: d.snmp_community ?? null };
}

/** GET /inventory_device/: filters, limit/offset, and `next`/`previous` links as in the spec. */
export function listDevices(
  devices: FakeDevice[],
  query: URLSearchParams,
  listUrl: string,
  allowedOrganizations?: number[],
  row: (d: FakeDevice) => Record<string, unknown> = listRow,
): Reply {
  const errors: Record<string, string[]> = {};
  const int = (key: string, fallback: number): number => {
    const raw = query.get(key);
    if (raw === null) return fallback;
    if (!UINT.test(raw)) errors[key] = ['A valid integer is required.'];
    return Number(raw);
  };
  const limit = int('limit', DEFAULT_LIMIT);
  const offset = int('offset', 0);
  const organization = int('organization', -1);
  const type = int('type', -1);
  const statusRaw = query.get('status');
  if (!errors.limit && (limit < 1 || limit > MAX_LIMIT)) errors.limit = [`Ensure this value is between 1 and ${MAX_LIMIT}.`];
  if (statusRaw !== null && !TRUE_VALUES.has(statusRaw) && !FALSE_VALUES.has(statusRaw)) errors.status = ['Use true or false.'];
  if (Object.keys(errors).length > 0) return { status: 400, body: errors };
  if (allowedOrganizations && organization >= 0 && !allowedOrganizations.includes(organization)) {
    return { status: 403, body: { detail: 'You do not have permission to perform this action.' } };
  }

  const unfiltered = organization < 0 && type < 0 && statusRaw === null;
  // A fleet already in id order is its own listing: no copy and sort of 100,000 rows per page,
  // which made the simulator, not the prober, the slowest part of a large benchmark sweep.
  const matching = unfiltered && sortedById(devices)
    ? devices
    : devices
      .filter((d) => organization < 0 || d.organization?.id === organization)
      .filter((d) => type < 0 || d.type?.id === type)
      .filter((d) => statusRaw === null || d.status === TRUE_VALUES.has(statusRaw))
      .sort((a, b) => a.id - b.id);
  const link = (at: number) => {
    const q = new URLSearchParams(query);
    q.set('limit', String(limit));
    q.set('offset', String(at));
    return `${listUrl}?${q.toString()}`;
  };
  return {
    status: 200,
    body: {
      count: matching.length,
      next: offset + limit < matching.length ? link(offset + limit) : null,
      previous: offset > 0 ? link(Math.max(0, offset - limit)) : null,
      results: matching.slice(offset, offset + limit).map(row),
    },
  };
}

/**
 * Whether the fleet is in id order, remembered for a second per array (and re-checked at once
 * when its length or ends change): a check per page walks the whole fleet, which at 300,000
 * devices and 3,000 pages a sweep made the simulator a bottleneck of the benchmark.
 */
const sortedness = new WeakMap<FakeDevice[], { length: number; first?: number; last?: number; atMs: number; sorted: boolean }>();
const SORTEDNESS_TTL_MS = 1_000;

function sortedById(devices: FakeDevice[]): boolean {
  const now = Date.now();
  const first = devices[0]?.id;
  const last = devices[devices.length - 1]?.id;
  const known = sortedness.get(devices);
  if (known && known.length === devices.length && known.first === first && known.last === last && now - known.atMs < SORTEDNESS_TTL_MS) return known.sorted;
  let sorted = true;
  for (let i = 1; i < devices.length && sorted; i++) sorted = (devices[i] as FakeDevice).id > (devices[i - 1] as FakeDevice).id;
  sortedness.set(devices, { length: devices.length, first, last, atMs: now, sorted });
  return sorted;
}

/** PATCH /inventory_device/{id}/: applies `status`; a real change moves both timestamps. */
export function patchDevice(device: FakeDevice, body: unknown, nowIso: string): Reply {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { status: 400, body: { detail: 'Expected a JSON object.' } };
  }
  const status = (body as Record<string, unknown>).status;
  if (status !== undefined && typeof status !== 'boolean') return { status: 400, body: { status: ['Must be a valid boolean.'] } };
  if (status !== undefined && status !== device.status) {
    device.status = status;
    device.last_status_change = nowIso;
    device.updated_at = nowIso;
  }
  return { status: 200, body: detailRow(device) };
}
