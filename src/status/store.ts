import type { Redis } from 'ioredis';
import { redisKeys } from '../redis/keys.js';
import { LuaScript } from '../redis/lua-script.js';
import { DEVICE_STATES_CAS, DEVICE_STATES_READ } from '../redis/scripts.js';
import { applyCheck, SEEDED_REASON, type Check, type DeviceState, type DeviceStatus, type Thresholds, type Transition } from './machine.js';
import { applyQuorumCheck, type QuorumRule, type Votes } from './quorum.js';

/** A device's hysteresis state plus what the inventory says and what we last wrote to it. */
export interface StoredState extends DeviceState {
  /** The inventory's status as read by the freshest sweep that reached a worker, and when it was read. */
  observed?: DeviceStatus;
  observedAtMs?: number;
  /** The last status a PATCH wrote successfully, and when. */
  written?: DeviceStatus;
  writtenAtMs?: number;
  /** Devices several groups vote on: each group's own hysteresis state, by group name. */
  groups?: Record<string, DeviceState>;
}

export interface Observation {
  status: boolean | null;
  atMs: number;
}

const MAX_CAS_ATTEMPTS = 8;
const casMany = new LuaScript(DEVICE_STATES_CAS);
const readMany = new LuaScript(DEVICE_STATES_READ);

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
  async apply(deviceId: number, observation: Observation, check: Check, thresholds: Thresholds, holdDown?: () => Promise<boolean>): Promise<Applied> {
    return this.applyRecord({ deviceId, observation, check }, thresholds, holdDown);
  }

  private async applyRecord(record: DeviceCheckRecord, thresholds: Thresholds, holdDown?: () => Promise<boolean>): Promise<Applied> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const raw = await this.redis.hgetall(this.key(record.deviceId));
      const applied = await decide(raw, record, thresholds, holdDown);
      if (await this.cas(record.deviceId, raw.v ?? '0', applied.state)) return applied;
    }
    throw new Error(`device ${record.deviceId}: state kept changing under concurrent checks`);
  }

  /**
   * `apply` for a probe job's devices in two commands (read all, compare-and-set all). A device
   * whose state moved in between goes through `apply` alone. Each entry is the device's outcome
   * or the error that kept its check from being recorded.
   */
  async applyMany(checks: DeviceCheckRecord[], thresholds: Thresholds, holdDown?: () => Promise<boolean>): Promise<PromiseSettledResult<Applied>[]> {
    if (checks.length === 0) return [];
    const keys = checks.map((c) => this.key(c.deviceId));
    const reads = (await readMany.run(this.redis, keys, [])) as string[][];
    const planned: { raw: Record<string, string>; applied: Applied }[] = [];
    for (const [i, c] of checks.entries()) {
      const raw = fromPairs(reads[i] ?? []);
      planned.push({ raw, applied: await decide(raw, c, thresholds, holdDown) });
    }
    const args = [String(this.ttlMs)];
    for (const p of planned) args.push(...casEntry(p.raw.v ?? '0', p.applied.state));
    // A failed batch write is retried device by device: each then reads and decides again.
    const written = ((await casMany.run(this.redis, keys, args).catch(() => [])) ?? []) as number[];
    return Promise.allSettled(
      checks.map(async (c, i) => {
        if (written[i] === 1) return (planned[i] as { applied: Applied }).applied;
        return this.applyRecord(c, thresholds, holdDown);
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
    const [written] = (await casMany.run(this.redis, [this.key(deviceId)], [String(this.ttlMs), ...casEntry(version, state)])) as number[];
    return written === 1;
  }
}

/** One device's part of DEVICE_STATES_CAS's arguments: the version read, then its fields counted. */
function casEntry(version: string, state: StoredState): string[] {
  const fields = Object.entries(encode(state)).flat();
  return [version, String(fields.length), ...fields];
}

/** One device's check, with the inventory's status the sweep saw beside it. */
export interface DeviceCheckRecord {
  deviceId: number;
  observation: Observation;
  check: Check;
  /** The group that ran the check; with `quorum`, its verdict is one vote among the rule's groups. */
  group?: string;
  quorum?: QuorumRule;
}

/** `votes` is set for devices several groups vote on: what each group holds. */
export type Applied = Transition & { state: StoredState; votes?: Votes };

/**
 * The state machine over one stored state. `holdDown` is asked only when the check would flip
 * the device Down (the mass-outage guard).
 */
async function decide(raw: Record<string, string>, c: DeviceCheckRecord, thresholds: Thresholds, holdDown?: () => Promise<boolean>): Promise<Applied> {
  const prev = decode(raw);
  const seed: DeviceStatus = c.observation.status === false ? 'down' : 'up';
  if (c.quorum && c.group) return decideQuorum(prev, { ...c, group: c.group, quorum: c.quorum }, seed, thresholds, holdDown);
  // A device a routing change took off a quorum rule: its streaks counted voting groups, not checks.
  const own = prev?.groups ? { ...prev, failStreak: 0, okStreak: 0 } : prev;
  let transition = applyCheck(own, seed, c.check, thresholds);
  if (transition.flip?.to === 'down' && holdDown && (await holdDown())) transition = applyCheck(own, seed, c.check, thresholds, true);
  return { ...transition, state: { ...prev, ...transition.next, ...freshest(prev, c.observation) } };
}

/**
 * The checking group's hysteresis runs on its own state; the device follows the groups' votes.
 * All of it lives in the device's one hash, so the compare-and-set covers the votes too: two
 * groups recording at once cannot both flip the device (one PATCH per real flip).
 */
async function decideQuorum(
  prev: StoredState | undefined,
  c: DeviceCheckRecord & { group: string; quorum: QuorumRule },
  seed: DeviceStatus,
  thresholds: Thresholds,
  holdDown?: () => Promise<boolean>,
): Promise<Applied> {
  const groups = prev?.groups ?? {};
  let t = applyQuorumCheck(prev, groups, c.group, seed, c.check, c.quorum, thresholds);
  if (t.flip?.to === 'down' && holdDown && (await holdDown())) t = applyQuorumCheck(prev, groups, c.group, seed, c.check, c.quorum, thresholds, true);
  const { group, ...transition } = t;
  return { ...transition, state: { ...prev, ...t.next, groups: { ...groups, [c.group]: group }, ...freshest(prev, c.observation) } };
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
  for (const [group, g] of Object.entries(s.groups ?? {})) out[`${GROUP_FIELD}${group}`] = JSON.stringify(g);
  return out;
}

/** HGETALL's flat field/value reply, as a Lua script returns it, into a record. */
function fromPairs(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string;
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
    groups: decodeGroups(h),
  };
}

/** Field prefix of a voting group's state in the device hash: `g:site-a`. */
const GROUP_FIELD = 'g:';

function decodeGroups(h: Record<string, string>): Record<string, DeviceState> | undefined {
  const groups: Record<string, DeviceState> = {};
  for (const [field, value] of Object.entries(h)) {
    if (!field.startsWith(GROUP_FIELD)) continue;
    try {
      const g = JSON.parse(value) as DeviceState;
      if (g.status === 'up' || g.status === 'down') groups[field.slice(GROUP_FIELD.length)] = g;
    } catch {
      // A corrupt vote is dropped: that group's next check seeds it again from the device.
    }
  }
  return Object.keys(groups).length > 0 ? groups : undefined;
}
