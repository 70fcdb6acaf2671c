/**
 * The simulated fleet of the pipeline benchmark: who answers, who never does, who goes silent
 * mid-run, and the daemon's configuration for it.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { detailRow, listRow, type FakeDevice } from '../src/demo/fake-inventory.js';
import { DetailsCache } from '../src/inventory/details.js';
import { parseDevice } from '../src/inventory/parse.js';
import type { Device } from '../src/inventory/device.js';
import { unreachableAddress } from './pipeline-netns.js';

export const COMMUNITY = 'bench';
/** The agent drops requests with any other community: a device with this one stops answering SNMP. */
const SILENT_COMMUNITY = 'silenced';
export const PREFIX = 'bench';

/** Every 20th device never answers (5%); every 200th answering one goes silent mid-run (0.5%). */
const isUnreachable = (i: number) => i % 20 === 19;
const isFlipper = (i: number) => i % 200 === 100;

/** 127.10.0.1 upwards: loopback, so every address answers ICMP; none collides with 127.0.0.1. */
const loopbackAddress = (i: number) => `127.${10 + Math.floor(i / 62_500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;

export interface Fleet {
  devices: FakeDevice[];
  /** Ids of the devices made SNMP-silent mid-run; each should flip Down once. */
  flipIds: number[];
  unreachable: number;
}

/**
 * `netns`: the unreachable share lives on 198.18.x.y behind the benchmark's namespace (ICMP and
 * SNMP both time out). Without it they stay on loopback with a community the agent ignores, so
 * only SNMP times out (the caller then sets `up_when: snmp`).
 */
export function buildFleet(size: number, netns: boolean): Fleet {
  const devices: FakeDevice[] = [];
  const flipIds: number[] = [];
  let unreachable = 0;
  for (let i = 0; i < size; i++) {
    const dead = isUnreachable(i);
    const hostname = dead && netns ? unreachableAddress(unreachable) : loopbackAddress(i);
    if (dead) unreachable++;
    if (!dead && isFlipper(i)) flipIds.push(i + 1);
    devices.push({
      id: i + 1,
      name: `bench-${i + 1}`,
      hostname,
      type: { id: 1, name: 'Router' },
      organization: { id: 1, name: 'Bench' },
      // The inventory already agrees with what the probes will find: no PATCH storm at start.
      status: !dead,
      last_status_change: null,
      created_at: '2024-01-01T00:00:00Z',
      updated_at: '2024-01-01T00:00:00Z',
      management_ip: null,
      snmp_community: dead && !netns ? SILENT_COMMUNITY : null,
    });
  }
  return { devices, flipIds, unreachable };
}

/** Makes the devices ignore SNMP from now on; a new updated_at makes the sweep re-read their detail. */
export function silence(fleet: Fleet, nowIso: string): void {
  const ids = new Set(fleet.flipIds);
  for (const d of fleet.devices) {
    if (!ids.has(d.id)) continue;
    d.snmp_community = SILENT_COMMUNITY;
    d.updated_at = nowIso;
  }
}

/**
 * Fills the daemon's detail cache as a steady fleet has it (one detail GET per device, ever), via
 * DetailsCache itself. The demo inventory finds a detail by a linear scan, so letting the first
 * sweep fetch 100,000 details would measure the simulator, not the prober.
 */
export async function seedDetails(redis: Redis, devices: FakeDevice[]): Promise<void> {
  const byId = new Map(devices.map((d) => [d.id, d]));
  const cache = new DetailsCache({ redis, prefix: PREFIX, concurrency: 64, inventory: { getDevice: async (id) => detailRow(byId.get(id) as FakeDevice) } });
  for (let at = 0; at < devices.length; at += 1000) {
    const rows = devices.slice(at, at + 1000).map(listRow);
    const parsed = rows.map(parseDevice).flatMap((r) => (r.ok ? [r.device] : []));
    await cache.enrich(parsed as Device[], rows);
  }
}

export interface BenchSettings {
  inventoryUrl: string;
  intervalSeconds: number;
  snmpPort: number;
  upWhen: 'all' | 'snmp';
  icmpEngine?: string;
  snmpEngine?: string;
  concurrency: number;
  patchesPerSecond: number;
  perDevice: string;
  icmpCount: number;
  pageConcurrency: number;
  detailConcurrency: number;
}

/** Realistic probe settings (one ping unless BENCH_ICMP_COUNT says more, 1 s timeouts, no SNMP retry); down_after 1 so a silenced device flips within the cycle. */
export function writeBenchConfig(s: BenchSettings): string {
  const engine = (name: string | undefined) => (name ? `, engine: ${name}` : '');
  const yaml = `
inventory: { url: "${s.inventoryUrl}", page_size: 100, page_concurrency: ${s.pageConcurrency}, detail_concurrency: ${s.detailConcurrency} }
redis: { prefix: ${PREFIX} }
schedule: { interval_seconds: ${s.intervalSeconds}, spread: 0.8 }
probes:
  up_when: ${s.upWhen}
  icmp: { count: ${s.icmpCount}, timeout_ms: 1000${engine(s.icmpEngine)} }
  snmp: { version: "2c", port: ${s.snmpPort}, timeout_ms: 1000, retries: 0, community: ${COMMUNITY}${engine(s.snmpEngine)} }
status: { down_after: 1, up_after: 1 }
worker: { concurrency: ${s.concurrency} }
reporter: { patches_per_second: ${s.patchesPerSecond} }
metrics: { host: 127.0.0.1, per_device: ${s.perDevice} }
log: { level: info }
`;
  const dir = mkdtempSync(join(tmpdir(), 'ip-bench-'));
  chmodSync(dir, 0o755); // BENCH_UNPRIVILEGED daemons (uid 65534) read it too
  const file = join(dir, 'config.yaml');
  writeFileSync(file, yaml, { mode: 0o644 });
  return file;
}
