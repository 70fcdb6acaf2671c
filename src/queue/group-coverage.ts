import type { Redis } from 'ioredis';
import { redisKeys } from '../redis/keys.js';
import { LuaScript } from '../redis/lua-script.js';
import { NOTE_GROUP_QUEUED } from '../redis/scripts.js';

const noteGroupQueued = new LuaScript(NOTE_GROUP_QUEUED);

/** One group's figures from the last sweep. */
export interface GroupFigures {
  /** Devices the sweep routed to the group. */
  devices: number;
  /** Of those, devices no worker of the group checked for two cycles. */
  notProbed: number;
  /** A few of the devices not probed, for the status page. */
  notProbedSample: { id: number; name: string }[];
}

export interface GroupsSummary {
  atMs: number;
  groups: Record<string, GroupFigures>;
}

/**
 * Which devices each probe group really checks. Workers stamp every device they check; the
 * sweep reads the stamps of the devices it routes, so a group whose workers are gone (or cut off
 * from Redis) shows as devices not probed, per group, on /metrics and the status page, while its
 * devices keep their status: no check, no hysteresis step, no flip.
 */
export class GroupCoverage {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Per device: when a worker of the group last checked it (or when the group was first handed it), ms. */
  lastCheckKey(group: string): string {
    return redisKeys.groupLastCheck(this.prefix, group);
  }

  get summaryKey(): string {
    return redisKeys.groupsSummary(this.prefix);
  }

  /** Worker side: the group checked these devices at `atMs`. */
  async markChecked(group: string, ids: number[], atMs: number): Promise<void> {
    if (ids.length === 0) return;
    await this.redis.hset(this.lastCheckKey(group), Object.fromEntries(ids.map((id) => [String(id), String(atMs)])));
  }

  /** Scheduler side: each device's last check by the group (ms), in the order of `ids`. */
  async lastChecks(group: string, cycle: number, ids: number[]): Promise<number[]> {
    if (ids.length === 0) return [];
    const raw = (await noteGroupQueued.run(this.redis, [this.lastCheckKey(group)], [String(cycle), ...ids.map(String)])) as string[];
    return raw.map(Number);
  }

  async forget(groups: string[], ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await Promise.all(groups.map((g) => this.redis.hdel(this.lastCheckKey(g), ...ids)));
  }

  async writeSummary(summary: GroupsSummary): Promise<void> {
    await this.redis.set(this.summaryKey, JSON.stringify(summary));
  }

  async readSummary(): Promise<GroupsSummary | undefined> {
    const raw = await this.redis.get(this.summaryKey);
    try {
      return raw ? (JSON.parse(raw) as GroupsSummary) : undefined;
    } catch {
      return undefined;
    }
  }
}
