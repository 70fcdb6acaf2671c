import type { Redis } from 'ioredis';
import { redisKeys } from '../redis/keys.js';
import { DEVICE_STATE_CAS } from '../redis/scripts.js';
import { applyCheck, SEEDED_REASON, type Check, type DeviceState, type DeviceStatus, type Thresholds, type Transition } from './machine.js';

/** A device's hysteresis state plus what the inventory says and what we last wrote to it. */
export interface StoredState extends DeviceState {
  /** The inventory's status as read by the freshest sweep that reached a worker, and when it was read. */
  observed?: DeviceStatus;
  observedAtMs?: number;
  /** The last status a PATCH wrote successfully, and when. */
  written?: DeviceStatus;
  writtenAtMs?: number;
}

export interface Observation {
  status: boolean | null;
  atMs: number;
}

const MAX_CAS_ATTEMPTS = 8;

/**
 * Per-device state in Redis, shared by every worker and surviving restarts. Only `apply`
 * runs the state machine; the reporter only reads and records writes.
 */
export class StatusStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Forget devices not checked for this long (removed from the inventory): 7 days. */
    private readonly ttlMs = 7 * 24 * 3600 * 1000,
  ) {}

  key(deviceId: number): string {
    return redisKeys.deviceState(this.prefix, deviceId);
  }

  async get(deviceId: number): Promise<StoredState | undefined> {
    return decode(await this.redis.hgetall(this.key(deviceId)));
  }

  /** Runs one check through the hysteresis and records the inventory's status seen with it. */
  async apply(
    deviceId: number,
    observation: Observation,
    check: Check,
    thresholds: Thresholds,
    holdDown?: () => Promise<boolean>,
  ): Promise<Applied> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const raw = await this.redis.hgetall(this.key(deviceId));
      const applied = await decide(raw, { deviceId, observation, check }, thresholds, holdDown);
      if (await this.cas(deviceId, raw.v ?? '0', applied.state)) return applied;
    }
    throw new Error(`device ${deviceId}: state kept changing under concurrent checks`);
  }

  /**
   * `apply` for a probe job's devices in two round trips (read all, compare-and-set all). A
   * device whose state moved in between goes through `apply` alone. Each entry is the device's
   * outcome or the error that kept its check from being recorded.
   */
  async applyMany(checks: DeviceCheckRecord[], thresholds: Thresholds, holdDown?: () => Promise<boolean>): Promise<PromiseSettledResult<Applied>[]> {
    const reads = (await this.redis.pipeline(checks.map((c) => ['hgetall', this.key(c.deviceId)])).exec()) ?? [];
    const planned: { raw: Record<string, string>; applied: Applied }[] = [];
    for (const [i, c] of checks.entries()) {
      const raw = (reads[i]?.[1] ?? {}) as Record<string, string>;
      planned.push({ raw, applied: await decide(raw, c, thresholds, holdDown) });
    }
    const writes = (await this.redis.pipeline(planned.map((p, i) => this.casCommand((checks[i] as DeviceCheckRecord).deviceId, p.raw.v ?? '0', p.applied.state))).exec()) ?? [];
    return Promise.allSettled(
      checks.map(async (c, i) => {
        const [err, ok] = writes[i] ?? [];
        if (!err && ok === 1) return (planned[i] as { applied: Applied }).applied;
        return this.apply(c.deviceId, c.observation, c.check, thresholds, holdDown);
      }),
    );
  }

  async markWritten(deviceId: number, status: DeviceStatus, atMs: number): Promise<void> {
    await this.redis.hset(this.key(deviceId), 'w', status, 'wa', String(atMs));
  }

  async forget(deviceId: number): Promise<void> {
    await this.redis.del(this.key(deviceId));
  }

  private async cas(deviceId: number, version: string, state: StoredState): Promise<boolean> {
    const [command, ...args] = this.casCommand(deviceId, version, state);
    return (await this.redis.call(command as string, args)) === 1;
  }

  private casCommand(deviceId: number, version: string, state: StoredState): string[] {
    return ['eval', DEVICE_STATE_CAS, '1', this.key(deviceId), version, String(this.ttlMs), ...Object.entries(encode(state)).flat()];
  }
}

/** One device's check, with the inventory's status the sweep saw beside it. */
export interface DeviceCheckRecord {
  deviceId: number;
  observation: Observation;
  check: Check;
}

export type Applied = Transition & { state: StoredState };

/**
 * The state machine over one stored state. `holdDown` is asked only when the check would flip
 * the device Down (the mass-outage guard).
 */
async function decide(raw: Record<string, string>, c: DeviceCheckRecord, thresholds: Thresholds, holdDown?: () => Promise<boolean>): Promise<Applied> {
  const prev = decode(raw);
  const seed: DeviceStatus = c.observation.status === false ? 'down' : 'up';
  let transition = applyCheck(prev, seed, c.check, thresholds);
  if (transition.flip?.to === 'down' && holdDown && (await holdDown())) transition = applyCheck(prev, seed, c.check, thresholds, true);
  return { ...transition, state: { ...prev, ...transition.next, ...freshest(prev, c.observation) } };
}

function freshest(prev: StoredState | undefined, obs: Observation): Pick<StoredState, 'observed' | 'observedAtMs'> {
  if (obs.status === null) return {};
  if (prev?.observedAtMs !== undefined && prev.observedAtMs > obs.atMs) return {};
  return { observed: obs.status ? 'up' : 'down', observedAtMs: obs.atMs };
}

/**
 * The status the inventory holds now, as best we know: our own successful write if it is
 * newer than the sweep's read, else what the sweep read.
 */
export function inventoryHolds(state: StoredState): DeviceStatus | undefined {
  if (state.written !== undefined && (state.observedAtMs === undefined || (state.writtenAtMs ?? 0) >= state.observedAtMs)) {
    return state.written;
  }
  return state.observed;
}

/**
 * A PATCH is due when the confirmed status differs from what the inventory holds. A status only
 * seeded, never confirmed by a check, is not: after Redis lost the state, the seed may come from a
 * sweep that read the inventory before our last PATCH landed, and writing it back would undo that PATCH.
 */
export const patchDue = (state: StoredState): boolean => {
  const held = inventoryHolds(state);
  return state.reason !== SEEDED_REASON && held !== undefined && held !== state.status;
};

function encode(s: StoredState): Record<string, string> {
  const out: Record<string, string> = {
    s: s.status,
    f: String(s.failStreak),
    o: String(s.okStreak),
    c: String(s.changedAtMs),
    r: s.reason,
  };
  if (s.uptimeTicks !== undefined) out.u = String(s.uptimeTicks);
  if (s.uptimeAtMs !== undefined) out.ua = String(s.uptimeAtMs);
  if (s.observed !== undefined) out.ob = s.observed;
  if (s.observedAtMs !== undefined) out.oa = String(s.observedAtMs);
  return out;
}

function decode(h: Record<string, string>): StoredState | undefined {
  if (h.s !== 'up' && h.s !== 'down') return undefined;
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const status = (v: string | undefined) => (v === 'up' || v === 'down' ? v : undefined);
  return {
    status: h.s,
    failStreak: num(h.f) ?? 0,
    okStreak: num(h.o) ?? 0,
    changedAtMs: num(h.c) ?? 0,
    reason: h.r ?? '',
    uptimeTicks: num(h.u),
    uptimeAtMs: num(h.ua),
    observed: status(h.ob),
    observedAtMs: num(h.oa),
    written: status(h.w),
    writtenAtMs: num(h.wa),
  };
}
