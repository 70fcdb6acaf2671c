import type { PerDeviceMetrics } from '../config/types.js';
import type { DeviceSeries } from './device-series.js';

const P = 'inventory_prober_';

interface Family {
  name: string;
  help: string;
  mode: 'basic' | 'full';
  lines: (s: DeviceSeries, labels: string) => string[];
}

const FAMILIES: Family[] = [
  { name: 'device_up', help: 'Decided status of the device after hysteresis: 1 up, 0 down.', mode: 'basic', lines: (s, l) => [`{${l}} ${s.s}`] },
  {
    name: 'device_last_change_timestamp_seconds',
    help: 'Unix time of the device\'s last confirmed status change (or of when the prober first saw it).',
    mode: 'basic',
    lines: (s, l) => [`{${l}} ${s.c}`],
  },
  {
    name: 'device_down_reason',
    help: 'Present (1) while the device is down; reason says which probes failed: icmp, snmp, both, unknown.',
    mode: 'basic',
    lines: (s, l) => (s.r ? [`{${l},reason="${s.r}"} 1`] : []),
  },
  {
    name: 'probe_success',
    help: 'Outcome of the device\'s last probe of each kind: 1 answered, 0 no answer (prober-side errors omitted).',
    mode: 'full',
    lines: (s, l) => [...(s.i !== undefined ? [`{${l},probe="icmp"} ${s.i}`] : []), ...(s.p !== undefined ? [`{${l},probe="snmp"} ${s.p}`] : [])],
  },
  { name: 'icmp_rtt_seconds', help: 'Best ICMP round-trip time of the device\'s last check.', mode: 'full', lines: (s, l) => (s.rtt !== undefined ? [`{${l}} ${s.rtt}`] : []) },
  { name: 'device_uptime_seconds', help: 'The device agent\'s sysUpTime at its last SNMP answer.', mode: 'full', lines: (s, l) => (s.up !== undefined ? [`{${l}} ${s.up}`] : []) },
];

export interface FleetCounts {
  up: number;
  down: number;
}

/**
 * Renders per-device series straight to exposition text from Redis, chunk by chunk: a
 * prom-client Gauge with 100k label sets costs far more memory and CPU per scrape. Returns the
 * fleet counts too, which are exported whatever the mode.
 */
export async function renderDeviceSeries(
  batches: AsyncIterable<DeviceSeries[]>,
  mode: PerDeviceMetrics,
  visit?: (s: DeviceSeries) => void,
): Promise<{ text: string; counts: FleetCounts }> {
  const families = FAMILIES.filter((f) => mode === 'full' || (mode === 'basic' && f.mode === 'basic'));
  const bodies = families.map(() => [] as string[]);
  const counts: FleetCounts = { up: 0, down: 0 };
  for await (const batch of batches) {
    for (const s of batch) {
      visit?.(s);
      if (s.s === 1) counts.up++;
      else counts.down++;
      if (families.length === 0) continue;
      const labels = `device_id="${s.id}",device="${escape(s.n)}",organization="${escape(s.o)}",type="${escape(s.t)}"`;
      families.forEach((f, i) => {
        for (const line of f.lines(s, labels)) bodies[i]?.push(`${P}${f.name}${line}`);
      });
    }
  }
  const text = families.map((f, i) => `# HELP ${P}${f.name} ${f.help}\n# TYPE ${P}${f.name} gauge\n${bodies[i]?.join('\n') ?? ''}${bodies[i]?.length ? '\n' : ''}`).join('');
  const fleet = `# HELP ${P}devices Devices by decided status, over the whole fleet.\n# TYPE ${P}devices gauge\n${P}devices{status="up"} ${counts.up}\n${P}devices{status="down"} ${counts.down}\n`;
  return { text: fleet + text, counts };
}

/** Label value escaping per the exposition format: backslash, double quote, newline. */
function escape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
