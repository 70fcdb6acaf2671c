import type { Redis } from 'ioredis';
import { redisKeys } from '../redis/keys.js';
import type { Device } from './device.js';

/**
 * Each device's own SNMP community, as the sweep read it (from its list row or its cached
 * detail), kept in one Redis hash by device id so probe jobs never carry it: the sweep records
 * the communities of the devices it queues, the worker looks them up when it runs the job. A
 * device without one of its own has no field and is probed with the configured default.
 * The hash holds secrets in clear: docs/redis.md says how to protect it.
 */
export class DeviceCommunities {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  get key(): string {
    return redisKeys.deviceCommunities(this.prefix);
  }

  /** Records these devices' own communities, and forgets any a device no longer has. */
  async remember(devices: Pick<Device, 'id' | 'snmpCommunity'>[]): Promise<void> {
    const own: Record<string, string> = {};
    const none: string[] = [];
    for (const d of devices) {
      if (d.snmpCommunity === undefined) none.push(String(d.id));
      else own[String(d.id)] = d.snmpCommunity;
    }
    // One write to Redis for both, as a pipeline: a sweep calls this once per probe job.
    const pipeline = this.redis.pipeline();
    if (Object.keys(own).length > 0) pipeline.hset(this.key, own);
    if (none.length > 0) pipeline.hdel(this.key, ...none);
    if (pipeline.length === 0) return;
    for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
  }

  /** The own communities of those of these devices that have one. */
  async lookup(ids: number[]): Promise<Map<number, string>> {
    if (ids.length === 0) return new Map();
    const values = await this.redis.hmget(this.key, ...ids.map(String));
    const found = new Map<number, string>();
    ids.forEach((id, i) => {
      const community = values[i];
      if (community !== null && community !== undefined) found.set(id, community);
    });
    return found;
  }

  async forget(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.hdel(this.key, ...ids);
  }
}
