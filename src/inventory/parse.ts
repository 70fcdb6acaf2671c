import type { Device } from './device.js';
import { MalformedPageError } from './errors.js';
import { validateTarget } from './target.js';

/** Far above any real fleet; a bigger count is a broken server, and trusting it would page forever. */
export const MAX_PLAUSIBLE_COUNT = 10_000_000;
const MAX_COMMUNITY_LENGTH = 255;
const MAX_NAME_LENGTH = 255;

export interface ListPage {
  count: number;
  next: string | null;
  rows: unknown[];
}

/**
 * Checks the envelope of one list page. Rows are returned unparsed: one bad row must cost that
 * row, not the page, so rows go through `parseDevice` one by one.
 */
export function parsePage(body: unknown, offset: number, limit: number): ListPage {
  if (!isObject(body)) throw new MalformedPageError(offset, `expected a JSON object, got ${describe(body)}`);
  const { count, next, results } = body;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
    throw new MalformedPageError(offset, `"count" must be a non-negative integer, got ${describe(count)}`);
  }
  if (count > MAX_PLAUSIBLE_COUNT) throw new MalformedPageError(offset, `"count" ${count} is implausibly large (> ${MAX_PLAUSIBLE_COUNT})`);
  if (!Array.isArray(results)) throw new MalformedPageError(offset, `"results" must be an array, got ${describe(results)}`);
  if (results.length > limit) throw new MalformedPageError(offset, `${results.length} results on a page of limit ${limit}`);
  return { count, next: typeof next === 'string' ? next : null, rows: results };
}

export type ParsedRow = { ok: true; device: Device } | { ok: false; reason: string; id?: number };

/**
 * Turns one untrusted inventory row into a Device, or says why not. Reasons read
 * `<code>: <detail>`; the code (before the colon) is the metric label, so it is a fixed word.
 * Values are never echoed: a community is a secret and a hostile hostname is noise.
 */
export function parseDevice(row: unknown): ParsedRow {
  if (!isObject(row)) return { ok: false, reason: `not_object: row is ${describe(row)}` };
  const id = row.id;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
    return { ok: false, reason: `invalid_id: "id" must be a positive integer, got ${describe(id)}` };
  }
  const fail = (reason: string): ParsedRow => ({ ok: false, reason, id });

  const target = validateTarget(targetSource(row));
  if (!target.ok) return fail(`invalid_target: ${target.reason}`);
  const name = row.name ?? null;
  if (name !== null && typeof name !== 'string') return fail(`invalid_name: "name" must be a string, got ${describe(name)}`);
  const organization = parseRef(row.organization);
  if (organization === false) return fail('invalid_organization: expected {id: integer, name: string} or null');
  const type = parseRef(row.type);
  if (type === false) return fail('invalid_type: expected {id: integer, name: string} or null');
  const status = row.status ?? null;
  if (status !== null && typeof status !== 'boolean') return fail(`invalid_status: "status" must be true, false or null, got ${describe(status)}`);
  const updatedAt = row.updated_at ?? null;
  if (updatedAt !== null && typeof updatedAt !== 'string') return fail(`invalid_updated_at: expected a string or null, got ${describe(updatedAt)}`);
  const community = parseCommunity(row.snmp_community);
  if (!community.ok) return fail(`invalid_community: ${community.reason}`);

  return {
    ok: true,
    device: {
      id,
      name: name && name.trim() ? name.slice(0, MAX_NAME_LENGTH) : target.target,
      target: target.target,
      organization,
      type,
      inventoryStatus: status,
      updatedAt,
      snmpCommunity: community.value,
    },
  };
}

export interface RowIdentity {
  /** The row's `id` exactly as received, as JSON (a string id keeps its quotes), at most 64 characters; absent when the row had none. */
  rowId?: string;
  /** The row's `name` when it has one, control characters and quotes escaped, at most 64 characters. */
  rowName?: string;
}

const MAX_IDENTITY_LENGTH = 64;
const clip = (text: string) => (text.length <= MAX_IDENTITY_LENGTH ? text : `${text.slice(0, MAX_IDENTITY_LENGTH - 1)}…`);

/**
 * How a log line names a row the sweep skipped, so an operator can find it in the inventory from
 * the log alone (with the page offset beside it). Only the id and the name: the hostname may be
 * hostile and the community is a secret, so neither is ever echoed.
 */
export function rowIdentity(row: unknown): RowIdentity {
  if (!isObject(row)) return {};
  const identity: RowIdentity = {};
  if ('id' in row && row.id !== undefined) identity.rowId = clip(JSON.stringify(row.id));
  if (typeof row.name === 'string' && row.name.trim() !== '') identity.rowName = clip(JSON.stringify(row.name).slice(1, -1));
  return identity;
}

/** `management_ip` wins when it is a non-empty string; the spec's list rows only carry `hostname`. */
export function targetSource(row: Record<string, unknown>): unknown {
  const ip = row.management_ip;
  return typeof ip === 'string' && ip.length > 0 ? ip : row.hostname;
}

/** A device's own community; absent, null or empty means "use the configured default". */
export function parseCommunity(value: unknown): { ok: true; value: string | undefined } | { ok: false; reason: string } {
  if (value === undefined || value === null || value === '') return { ok: true, value: undefined };
  if (typeof value !== 'string') return { ok: false, reason: `"snmp_community" must be a string, got ${Array.isArray(value) ? 'an array' : typeof value}` };
  if (value.length > MAX_COMMUNITY_LENGTH) return { ok: false, reason: `"snmp_community" is longer than ${MAX_COMMUNITY_LENGTH} characters` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) return { ok: false, reason: '"snmp_community" contains control characters' };
  return { ok: true, value };
}

function parseRef(value: unknown): { id: number; name: string } | null | false {
  if (value === undefined || value === null) return null;
  if (!isObject(value)) return false;
  const { id, name } = value;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || typeof name !== 'string') return false;
  return { id, name };
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value's shape for error messages, never its content. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return Number.isFinite(value) ? `number ${value}` : String(value);
  return typeof value;
}
