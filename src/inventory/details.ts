import type { Redis } from 'ioredis';
import { DEFAULTS } from '../config/defaults.js';
import { redisKeys } from '../redis/keys.js';
import { LuaScript } from '../redis/lua-script.js';
import { READ_DETAILS } from '../redis/scripts.js';
import { ProberError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { DetailFetcher } from './detail-fetcher.js';
import type { Device } from './device.js';
import { isObject, parseCommunity } from './parse.js';
import { validateTarget } from './target.js';

export interface DetailsCacheOptions {
  /** Without Redis (`sweep --once`), every detail is fetched: nothing is cached. */
  redis?: Redis;
  /** Same prefix as every other prober key (entries: redisKeys.deviceDetail). */
  prefix?: string;
  inventory: { getDevice(id: number, signal?: AbortSignal): Promise<unknown> };
  /** Detail requests in flight at once (inventory.detail_concurrency); they run beside the sweeps. */
  concurrency?: number;
  /** Lifetime of an entry: devices that left the inventory stop costing memory. */
  ttlSeconds?: number;
  logger?: Logger;
}

/** What the detail endpoint adds to a list row, already validated; '' means "none". */
interface Detail {
  managementIp: string;
  community: string;
}

const FIELDS = ['updated_at', 'management_ip', 'snmp_community'] as const;
const readDetails = new LuaScript(READ_DETAILS);

/** What `lookup` gives the sweep: devices to probe now, and the rest as their details arrive. */
export interface DetailLookup {
  /** Cached or not needed: probe these now. */
  ready: Device[];
  /**
   * One per device whose detail is being fetched: resolves to the device with its detail (or,
   * if the fetch failed, as the list row has it), or undefined if fetching was stopped.
   */
  fetching: Promise<Device | undefined>[];
}

/** A failed fetch: keep the list's hostname and the default community. */
const NO_DETAIL: Detail = { managementIp: '', community: '' };

/**
 * The spec's list rows carry only `hostname`; `management_ip` and `snmp_community` are on the
 * detail endpoint. Fetching one detail per device per cycle would multiply the API load by the
 * fleet size, so details are cached in Redis keyed by the list row's `updated_at`: a steady
 * fleet costs one script call (READ_DETAILS) per page and zero detail requests.
 *
 * Misses are fetched beside the sweep (DetailFetcher), never inside it: `lookup` answers from
 * the cache at once and queues the rest, so a cold start or a bulk edit of `updated_at` costs
 * detail requests, not sweep time. Devices are parsed from the list row first (so every row is
 * validated the same way), then enriched here. A failed detail fetch keeps the list's hostname
 * and the default community: a missing detail must not stop the sweep. Known limit: a row whose
 * list `hostname` is unsafe was already rejected by parseDevice, even if its detail's
 * `management_ip` would be fine. A row without `updated_at` can't be checked for freshness:
 * its entry is trusted until the TTL.
 */
export class DetailsCache {
  private readonly ttlSeconds: number;
  private readonly fetcher: DetailFetcher<Detail>;

  constructor(private readonly opts: DetailsCacheOptions) {
    this.ttlSeconds = opts.ttlSeconds ?? 7 * 24 * 3600;
    this.fetcher = new DetailFetcher({ concurrency: Math.max(1, opts.concurrency ?? DEFAULTS.inventory.detail_concurrency), fetch: (d, signal) => this.fetchOne(d, signal) });
  }

  /** Details queued or being fetched, for this sweep or an earlier one. */
  get fetchesPending(): number {
    return this.fetcher.pending;
  }

  /** Splits a page's devices into those ready to probe and those whose detail is on its way. */
  async lookup(devices: Device[], rows: unknown[]): Promise<DetailLookup> {
    const lacking = idsLackingDetail(rows);
    const needy = devices.filter((d) => lacking.has(d.id));
    if (needy.length === 0) return { ready: devices, fetching: [] };
    const cached = await this.readCached(needy);
    const ready: Device[] = [];
    const fetching: Promise<Device | undefined>[] = [];
    for (const d of devices) {
      const detail = cached.get(d.id);
      if (!lacking.has(d.id)) ready.push(d);
      else if (detail) ready.push(applyDetail(d, detail));
      else fetching.push(this.fetcher.request(d).then((fetched) => (fetched ? applyDetail(d, fetched) : undefined)));
    }
    return { ready, fetching };
  }

  /** Returns `devices` with target and community taken from the detail, waiting for every fetch (`sweep --once`). */
  async enrich(devices: Device[], rows: unknown[]): Promise<Device[]> {
    const { ready, fetching } = await this.lookup(devices, rows);
    const fetched = (await Promise.all(fetching)).filter((d): d is Device => d !== undefined);
    const byId = new Map([...ready, ...fetched].map((d) => [d.id, d]));
    return devices.map((d) => byId.get(d.id) ?? d);
  }

  /** Stops fetching (shutdown); requests in flight are aborted. */
  close(): void {
    this.fetcher.close();
  }

  private key(id: number): string {
    return redisKeys.deviceDetail(this.opts.prefix ?? 'ip', id);
  }

  private async readCached(devices: Device[]): Promise<Map<number, Detail>> {
    if (!this.opts.redis) return new Map();
    const keys = devices.map((d) => this.key(d.id));
    const values = (await readDetails.run(this.opts.redis, keys, FIELDS)) as (string | null)[];
    const hits = new Map<number, Detail>();
    devices.forEach((d, i) => {
      const at = i * FIELDS.length;
      const updatedAt = values[at] ?? null;
      if (updatedAt === null || updatedAt !== (d.updatedAt ?? '')) return;
      hits.set(d.id, { managementIp: values[at + 1] ?? '', community: values[at + 2] ?? '' });
    });
    return hits;
  }

  /** Undefined only when fetching was stopped; a failure gives NO_DETAIL and is not cached, so the next sweep retries. */
  private async fetchOne(device: Device, signal: AbortSignal): Promise<Detail | undefined> {
    let detail: Detail;
    try {
      detail = this.validate(device.id, await this.opts.inventory.getDevice(device.id, signal));
    } catch (err) {
      if (signal.aborted) return undefined;
      this.opts.logger?.debug(
        { component: 'details', deviceId: device.id, kind: err instanceof ProberError ? err.kind : undefined, err },
        'device detail unavailable; using the list hostname and the default community',
      );
      return NO_DETAIL;
    }
    await this.store(device, detail).catch((err: Error) =>
      this.opts.logger?.debug({ component: 'details', deviceId: device.id, err: err.message }, 'device detail not cached; it is fetched again next sweep'),
    );
    return detail;
  }

  /** Keeps only values that are safe to use; a bad one falls back to the list's, loudly. */
  private validate(deviceId: number, raw: unknown): Detail {
    const row = isObject(raw) ? raw : {};
    const ip = row.management_ip;
    let managementIp = '';
    if (typeof ip === 'string' && ip.length > 0) {
      const check = validateTarget(ip);
      if (check.ok) managementIp = check.target;
      else this.opts.logger?.warn({ component: 'details', deviceId, reason: check.reason }, 'detail management_ip is unsafe; probing the list hostname');
    }
    const community = parseCommunity(row.snmp_community);
    if (!community.ok) this.opts.logger?.warn({ component: 'details', deviceId, reason: community.reason }, 'detail snmp_community is invalid; using the default');
    return { managementIp, community: community.ok ? (community.value ?? '') : '' };
  }

  private async store(device: Device, detail: Detail): Promise<void> {
    if (!this.opts.redis) return;
    const key = this.key(device.id);
    // The list row's updated_at, not the detail's: next cycle compares against the list.
    await this.opts.redis
      .multi()
      .hset(key, { updated_at: device.updatedAt ?? '', management_ip: detail.managementIp, snmp_community: detail.community })
      .expire(key, this.ttlSeconds)
      .exec();
  }
}

/** Ids of rows that carry neither field, i.e. the spec's list shape. */
function idsLackingDetail(rows: unknown[]): Set<number> {
  const ids = new Set<number>();
  for (const row of rows) {
    if (isObject(row) && typeof row.id === 'number' && !('management_ip' in row) && !('snmp_community' in row)) ids.add(row.id);
  }
  return ids;
}

function applyDetail(device: Device, detail: Detail): Device {
  return {
    ...device,
    target: detail.managementIp || device.target,
    snmpCommunity: detail.community || device.snmpCommunity,
  };
}
