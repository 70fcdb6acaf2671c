import type { Redis } from 'ioredis';
import { redisKeys } from '../redis/keys.js';
import type { DeviceWithoutCommunity } from '../inventory/device.js';
import type { ProbeKind, ProbeResult } from '../probes/types.js';
import type { DeviceState } from '../status/machine.js';

/** Why a device is down, as a label value: which probes failed. */
export type DownReason = 'icmp' | 'snmp' | 'both' | 'unknown';

/** One device's exported figures, as stored in Redis (short keys: 100k of them per scrape). */
export interface DeviceSeries {
  id: number;
  n: string; // device name
  o: string; // organization
  t: string; // type
  s: 0 | 1; // decided status
  c: number; // last change, unix seconds
  r?: DownReason; // set while down
  w?: string; // while down: the failing probes' reasons, for the status page
  i?: 0 | 1; // icmp probe success (full)
  p?: 0 | 1; // snmp probe success (full)
  rtt?: number; // icmp rtt seconds (full)
  up?: number; // sysUpTime seconds (full)
}

/**
 * Per-device figures live in one Redis hash, written by whichever worker checked the device,
 * so one process can export every device's series without holding the fleet in memory, and
 * replicas never disagree about a device.
 */
export class DeviceSeriesStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  get key(): string {
    return redisKeys.deviceSeries(this.prefix);
  }

  /** One write for all of a probe job's devices. */
  async record(checked: { device: DeviceWithoutCommunity; state: DeviceState; results: Partial<Record<ProbeKind, ProbeResult>> }[]): Promise<void> {
    if (checked.length === 0) return;
    const fields: Record<string, string> = {};
    for (const c of checked) fields[String(c.device.id)] = JSON.stringify(seriesOf(c.device, c.state, c.results));
    await this.redis.hset(this.key, fields);
  }

  async remove(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.hdel(this.key, ...ids);
  }

  /**
   * Walks the hash in chunks, yielding to the event loop between them so a scrape never stalls
   * probing. The next chunk is already requested while this one is parsed and rendered, so
   * Redis and the network work alongside the process instead of in turn.
   */
  async *scan(chunk = 2_000): AsyncGenerator<DeviceSeries[]> {
    let next = this.hscan('0', chunk);
    for (;;) {
      const [cursor, flat] = await next;
      if (cursor !== '0') next = this.hscan(cursor, chunk);
      yield parseSeries(flat);
      if (cursor === '0') return;
      await new Promise((r) => setImmediate(r));
    }
  }

  private hscan(cursor: string, chunk: number): Promise<[string, string[]]> {
    const reply = this.redis.hscan(this.key, cursor, 'COUNT', chunk);
    // A consumer that stops early never awaits the prefetched chunk: its failure is not news.
    reply.catch(() => {});
    return reply;
  }
}

function parseSeries(flat: string[]): DeviceSeries[] {
  const batch: DeviceSeries[] = [];
  for (let i = 1; i < flat.length; i += 2) {
    try {
      batch.push(JSON.parse(flat[i] as string) as DeviceSeries);
    } catch {
      // A corrupt entry is skipped; the device's next check rewrites it.
    }
  }
  return batch;
}

function downReason(results: Partial<Record<ProbeKind, ProbeResult>>): DownReason {
  const icmp = results.icmp?.outcome === 'down';
  const snmp = results.snmp?.outcome === 'down';
  if (icmp && snmp) return 'both';
  if (icmp) return 'icmp';
  if (snmp) return 'snmp';
  return 'unknown';
}

function seriesOf(device: DeviceWithoutCommunity, state: DeviceState, results: Partial<Record<ProbeKind, ProbeResult>>): DeviceSeries {
  const series: DeviceSeries = {
    id: device.id,
    n: device.name,
    o: device.organization?.name ?? '',
    t: device.type?.name ?? '',
    s: state.status === 'up' ? 1 : 0,
    c: Math.floor(state.changedAtMs / 1000),
  };
  if (state.status === 'down') {
    series.r = downReason(results);
    series.w = state.reason.slice(0, 200);
  }
  if (results.icmp && results.icmp.outcome !== 'error') series.i = results.icmp.outcome === 'up' ? 1 : 0;
  if (results.snmp && results.snmp.outcome !== 'error') series.p = results.snmp.outcome === 'up' ? 1 : 0;
  if (results.icmp?.rttMs !== undefined) series.rtt = results.icmp.rttMs / 1000;
  if (state.uptimeTicks !== undefined) series.up = Math.floor(state.uptimeTicks / 100);
  return series;
}
