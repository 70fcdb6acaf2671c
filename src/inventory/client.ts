import type { Device } from './device.js';
import { MalformedPageError, MalformedResponseError } from './errors.js';
import type { InventoryHttp } from './http.js';
import { parseDevice, parsePage, rowIdentity, type RowIdentity } from './parse.js';

export interface InventoryFilters {
  organization: number[];
  type: number[];
}

export interface ListOptions {
  pageSize: number;
  filters: InventoryFilters;
  signal?: AbortSignal;
}

/** A row the sweep skips, named so the operator can find it: its identity, and its index on the page. */
export interface InvalidRow extends RowIdentity {
  id?: number;
  reason: string;
  index: number;
}

export interface InventoryPage {
  /** Offset of this page inside its listing (one listing per filter combination). */
  offset: number;
  /** The listing's total as the server reported it on this page. */
  count: number;
  /** Valid devices not already yielded by this call. */
  devices: Device[];
  invalid: InvalidRow[];
  /**
   * Valid rows skipped because an earlier page of this call already yielded the same row (the
   * list shifted under us). A row that reuses a yielded id with different data is `invalid`
   * (`duplicate_id`) instead: that is an inventory data error the operator must see.
   */
  duplicates: number;
  /** The page's raw rows, for DetailsCache.enrich (it needs to see which fields the list lacked). */
  rows: unknown[];
  filter: { organization?: number; type?: number };
}

/**
 * The inventory API in the prober's terms: pages of validated devices, one device's detail,
 * and status writes. All HTTP concerns (auth, retries, timeouts) live in InventoryHttp.
 */
export class InventoryClient {
  constructor(private readonly http: InventoryHttp) {}

  /**
   * Pages through `GET /inventory_device/`. The spec types `organization` and `type` as one
   * integer each, and a Django-style backend given a repeated parameter silently keeps only one
   * value, so a list of ids becomes one paged listing per (organization, type) combination; an
   * empty list means "no filter". A device belongs to one organization and one type, so the
   * listings are disjoint, and one Set of ids per call also absorbs rows that reappear on the
   * next page when the list shifts under us.
   *
   * Offsets are computed here, never taken from `next`: following a server-supplied URL could
   * carry the token to another origin. A listing ends when offset reaches `count` or a page
   * comes back empty, so neither a shrinking list nor a lying `count` can loop forever.
   */
  async *listDevices(opts: ListOptions): AsyncGenerator<InventoryPage> {
    const seen: Seen = new Map();
    for (const filter of filterCombinations(opts.filters)) {
      yield* this.listOne(opts, filter, seen);
    }
  }

  private async *listOne(opts: ListOptions, filter: InventoryPage['filter'], seen: Seen): AsyncGenerator<InventoryPage> {
    for (let offset = 0; ; ) {
      const body = await this.getPage(listPath(opts.pageSize, offset, filter), offset, opts.signal);
      const page = parsePage(body, offset, opts.pageSize);
      if (page.rows.length === 0) return;
      yield { offset, count: page.count, ...splitRows(page.rows, seen), rows: page.rows, filter };
      offset += page.rows.length;
      if (offset >= page.count) return;
    }
  }

  private async getPage(path: string, offset: number, signal?: AbortSignal): Promise<unknown> {
    try {
      return await this.http.getJson(path, signal);
    } catch (err) {
      if (err instanceof MalformedResponseError) throw new MalformedPageError(offset, err.problem, { cause: err });
      throw err;
    }
  }

  /** The detail record (`GET /inventory_device/{id}/`), unparsed: it carries management_ip and snmp_community. */
  async getDevice(id: number, signal?: AbortSignal): Promise<unknown> {
    return this.http.getJson(devicePath(id), signal);
  }

  /** Writes an absolute status, so a repeated write is harmless. Throws InventoryHttpError unless 2xx. */
  async patchStatus(id: number, status: boolean): Promise<void> {
    await this.http.patchJson(devicePath(id), { status });
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

/** Ids yielded so far in one listDevices call, with the yielded device as JSON to tell a repeat from an impostor. */
type Seen = Map<number, string>;

function splitRows(rows: unknown[], seen: Seen): Pick<InventoryPage, 'devices' | 'invalid' | 'duplicates'> {
  const devices: Device[] = [];
  const invalid: InventoryPage['invalid'] = [];
  let duplicates = 0;
  for (const [index, row] of rows.entries()) {
    const parsed = parseDevice(row);
    if (!parsed.ok) {
      invalid.push({ ...(parsed.id === undefined ? {} : { id: parsed.id }), reason: parsed.reason, ...rowIdentity(row), index });
    } else if (seen.get(parsed.device.id) === JSON.stringify(parsed.device)) {
      duplicates++;
    } else if (seen.has(parsed.device.id)) {
      const reason = 'duplicate_id: another row with this id and different data was already read; only the first is probed';
      invalid.push({ id: parsed.device.id, reason, ...rowIdentity(row), index });
    } else {
      seen.set(parsed.device.id, JSON.stringify(parsed.device));
      devices.push(parsed.device);
    }
  }
  return { devices, invalid, duplicates };
}

export function filterCombinations(filters: InventoryFilters): InventoryPage['filter'][] {
  const orgs: (number | undefined)[] = filters.organization.length ? [...new Set(filters.organization)] : [undefined];
  const types: (number | undefined)[] = filters.type.length ? [...new Set(filters.type)] : [undefined];
  return orgs.flatMap((organization) =>
    types.map((type) => ({
      ...(organization === undefined ? {} : { organization }),
      ...(type === undefined ? {} : { type }),
    })),
  );
}

function listPath(limit: number, offset: number, filter: InventoryPage['filter']): string {
  const query = new URLSearchParams({ limit: String(limit), offset: String(offset) });
  if (filter.organization !== undefined) query.set('organization', String(filter.organization));
  if (filter.type !== undefined) query.set('type', String(filter.type));
  return `/inventory_device/?${query.toString()}`;
}

function devicePath(id: number): string {
  if (!Number.isSafeInteger(id) || id <= 0) throw new RangeError(`device id must be a positive integer, got ${id}`);
  return `/inventory_device/${id}/`;
}
