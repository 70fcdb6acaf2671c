import type { Redis } from 'ioredis';
import { redisKeys } from '../redis/keys.js';
import { ProberError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Device } from './device.js';
import { isObject, parseCommunity } from './parse.js';
import { validateTarget } from './target.js';

export interface DetailsCacheOptions {
  /** Without Redis (`sweep --once`), every detail is fetched: nothing is cached. */
  redis?: Redis;
  /** Same prefix as every other prober key (entries: redisKeys.deviceDetail). */
  prefix?: string;
  inventory: { getDevice(id: number, signal?: AbortSignal): Promise<unknown> };
  /** Detail requests in flight at once (inventory.detail_concurrency). */
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

/**
 * The spec's list rows carry only `hostname`; `management_ip` and `snmp_community` are on the
 * detail endpoint. Fetching one detail per device per cycle would multiply the API load by the
 * fleet size, so details are cached in Redis keyed by the list row's `updated_at`: a steady
 * fleet costs one pipelined HMGET per page and zero detail requests.
 *
 * Devices are parsed from the list row first (so every row is validated the same way), then
 * enriched here. A failed detail fetch keeps the list's hostname and the default community:
 * a missing detail must not stop the sweep. Known limit: a row whose list `hostname` is unsafe
 * was already rejected by parseDevice, even if its detail's `management_ip` would be fine.
 * A row without `updated_at` can't be checked for freshness: its entry is trusted until the TTL.
 */
export class DetailsCache {
  private readonly concurrency: number;
  private readonly ttlSeconds: number;

  constructor(private readonly opts: DetailsCacheOptions) {
    this.concurrency = Math.max(1, opts.concurrency ?? 8);
    this.ttlSeconds = opts.ttlSeconds ?? 7 * 24 * 3600;
  }

  /** Returns `devices` with target and community taken from the detail where the list lacked them. */
  async enrich(devices: Device[], rows: unknown[], signal?: AbortSignal): Promise<Device[]> {
    const lacking = idsLackingDetail(rows);
    const needy = devices.filter((d) => lacking.has(d.id));
    if (needy.length === 0) return devices;

    const cached = await this.readCached(needy);
    const misses = needy.filter((d) => !cached.has(d.id));
    const fetched = await this.fetchAll(misses, signal);
    const details = new Map([...cached, ...fetched]);
    return devices.map((d) => {
      const detail = details.get(d.id);
      return detail ? applyDetail(d, detail) : d;
    });
  }

  private key(id: number): string {
    return redisKeys.deviceDetail(this.opts.prefix ?? 'ip', id);
  }

  private async readCached(devices: Device[]): Promise<Map<number, Detail>> {
    if (!this.opts.redis) return new Map();
    const pipeline = this.opts.redis.pipeline();
    for (const d of devices) pipeline.hmget(this.key(d.id), ...FIELDS);
    const replies = (await pipeline.exec()) ?? [];
    const hits = new Map<number, Detail>();
    devices.forEach((d, i) => {
      const [err, values] = replies[i] ?? [null, null];
      if (err || !Array.isArray(values)) return;
      const [updatedAt, managementIp, community] = values as (string | null)[];
      if (updatedAt === null || updatedAt !== (d.updatedAt ?? '')) return;
      hits.set(d.id, { managementIp: managementIp ?? '', community: community ?? '' });
    });
    return hits;
  }

  private async fetchAll(devices: Device[], signal?: AbortSignal): Promise<Map<number, Detail>> {
    const fetched = new Map<number, Detail>();
    const queue = [...devices];
    const worker = async () => {
      for (let d = queue.shift(); d && !signal?.aborted; d = queue.shift()) {
        const detail = await this.fetchOne(d, signal);
        if (detail) fetched.set(d.id, detail);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, devices.length) }, worker));
    if (fetched.size > 0) await this.store(devices, fetched);
    return fetched;
  }

  private async fetchOne(device: Device, signal?: AbortSignal): Promise<Detail | undefined> {
    try {
      const raw = await this.opts.inventory.getDevice(device.id, signal);
      return this.validate(device.id, raw);
    } catch (err) {
      this.opts.logger?.debug(
        { component: 'details', deviceId: device.id, kind: err instanceof ProberError ? err.kind : undefined, err },
        'device detail unavailable; using the list hostname and the default community',
      );
      return undefined;
    }
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

  private async store(devices: Device[], fetched: Map<number, Detail>): Promise<void> {
    if (!this.opts.redis) return;
    const pipeline = this.opts.redis.pipeline();
    for (const d of devices) {
      const detail = fetched.get(d.id);
      if (!detail) continue;
      // The list row's updated_at, not the detail's: next cycle compares against the list.
      pipeline.hset(this.key(d.id), { updated_at: d.updatedAt ?? '', management_ip: detail.managementIp, snmp_community: detail.community });
      pipeline.expire(this.key(d.id), this.ttlSeconds);
    }
    await pipeline.exec();
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
