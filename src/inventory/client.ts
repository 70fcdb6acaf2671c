import type { Device } from './device.js';
import { MalformedPageError, MalformedResponseError } from './errors.js';
import type { InventoryHttp } from './http.js';
import { pageConcurrently, type ListingFilter, type PagerFailure } from './pager.js';
import { parseDevice, parsePage, rowIdentity, type RowIdentity } from './parse.js';
import { SeenRows } from './seen-rows.js';

export interface InventoryFilters {
  organization: number[];
  type: number[];
}

export interface ListOptions {
  pageSize: number;
  filters: InventoryFilters;
  /** Pages in flight at once (inventory.page_concurrency); 1 reads them one after another. */
  concurrency?: number;
  signal?: AbortSignal;
}

/** A row the sweep skips, named so the operator can find it: its identity, and its index on the page. */
export interface InvalidRow extends RowIdentity {
  id?: number;
  reason: string;
  index: number;
}

export interface InventoryPage {
  ok: true;
  /** Offset of this page inside its listing (one listing per filter combination). */
  offset: number;
  /** The listing's total as the server reported it on this page. */
  count: number;
  /** The total its listing's first page reported, from which the offsets were planned. */
  listingCount: number;
  /** The listing moved while it was read (see PagerPage): this sweep may have missed rows. */
  countChanged: boolean;
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
  filter: ListingFilter;
}

/** A page that failed on its own (malformed, or a transient error past its retries); the others went on. */
export type PageFailure = PagerFailure;

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
   * listings are disjoint, and one Set of ids per call also absorbs rows that reappear on
   * another page when the list shifts under us, whichever page arrives first.
   *
   * Pages come concurrently and in no particular order (see pageConcurrently): offsets are
   * computed from each listing's first `count`, never taken from `next`, which could carry the
   * token to another origin. A page that fails on its own is yielded as a PageFailure; a
   * failure every page would share (401, 403, 400, redirect, abort) is thrown.
   */
  async *listDevices(opts: ListOptions): AsyncGenerator<InventoryPage | PageFailure> {
    const seen = new SeenRows();
    const pages = pageConcurrently({
      filters: filterCombinations(opts.filters),
      pageSize: opts.pageSize,
      concurrency: Math.max(1, opts.concurrency ?? 1),
      signal: opts.signal,
      fetchPage: async (filter, offset, signal) => parsePage(await this.getPage(listPath(opts.pageSize, offset, filter), offset, signal), offset, opts.pageSize),
    });
    for await (const page of pages) {
      yield page.ok ? { ...page, ...splitRows(page.rows, seen) } : page;
    }
  }

  private async getPage(path: string, offset: number, signal?: AbortSignal): Promise<unknown> {
    try {
      return await this.http.getJson(path, signal, 'list');
    } catch (err) {
      if (err instanceof MalformedResponseError) throw new MalformedPageError(offset, err.problem, { cause: err });
      throw err;
    }
  }

  /** The detail record (`GET /inventory_device/{id}/`), unparsed: it carries management_ip and snmp_community. */
  async getDevice(id: number, signal?: AbortSignal): Promise<unknown> {
    return this.http.getJson(devicePath(id), signal, 'detail');
  }

  /** Writes an absolute status, so a repeated write is harmless. Throws InventoryHttpError unless 2xx. */
  async patchStatus(id: number, status: boolean): Promise<void> {
    await this.http.patchJson(devicePath(id), { status });
  }

  /** Requests started so far, per endpoint kind: a sweep reports its own share. */
  requestsStarted() {
    return this.http.requestsStarted();
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

const DUPLICATE_ID = 'duplicate_id: another row with this id and different data was already read; only the first is probed';

function splitRows(rows: unknown[], seen: SeenRows): Pick<InventoryPage, 'devices' | 'invalid' | 'duplicates'> {
  const devices: Device[] = [];
  const invalid: InventoryPage['invalid'] = [];
  let duplicates = 0;
  for (let index = 0; index < rows.length; index++) {
    const row = rows[index];
    const parsed = parseDevice(row);
    if (!parsed.ok) {
      invalid.push({ ...(parsed.id === undefined ? {} : { id: parsed.id }), reason: parsed.reason, ...rowIdentity(row), index });
    } else {
      const sighting = seen.see(parsed.device);
      if (sighting === 'new') devices.push(parsed.device);
      else if (sighting === 'same') duplicates++;
      else invalid.push({ id: parsed.device.id, reason: DUPLICATE_ID, ...rowIdentity(row), index });
    }
  }
  return { devices, invalid, duplicates };
}

export function filterCombinations(filters: InventoryFilters): ListingFilter[] {
  const orgs: (number | undefined)[] = filters.organization.length ? [...new Set(filters.organization)] : [undefined];
  const types: (number | undefined)[] = filters.type.length ? [...new Set(filters.type)] : [undefined];
  return orgs.flatMap((organization) =>
    types.map((type) => ({
      ...(organization === undefined ? {} : { organization }),
      ...(type === undefined ? {} : { type }),
    })),
  );
}

function listPath(limit: number, offset: number, filter: ListingFilter): string {
  const query = new URLSearchParams({ limit: String(limit), offset: String(offset) });
  if (filter.organization !== undefined) query.set('organization', String(filter.organization));
  if (filter.type !== undefined) query.set('type', String(filter.type));
  return `/inventory_device/?${query.toString()}`;
}

function devicePath(id: number): string {
  if (!Number.isSafeInteger(id) || id <= 0) throw new RangeError(`device id must be a positive integer, got ${id}`);
  return `/inventory_device/${id}/`;
}
