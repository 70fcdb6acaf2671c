import type { PerDeviceMetrics } from '../config/types.js';
import type { DeviceSeries } from './device-series.js';

const P = 'inventory_prober_';

interface Family {
  name: string;
  help: string;
  mode: 'basic' | 'full';
  /** The device's sample lines, each ending in a newline ('' for none); `head` is `<metric>{<labels>`. */
  lines: (s: DeviceSeries, head: string) => string;
}

const FAMILIES: Family[] = [
  { name: 'device_up', help: 'Decided status of the device after hysteresis: 1 up, 0 down.', mode: 'basic', lines: (s, h) => `${h}} ${s.s}\n` },
  {
    name: 'device_last_change_timestamp_seconds',
    help: 'Unix time of the device\'s last confirmed status change (or of when the prober first saw it).',
    mode: 'basic',
    lines: (s, h) => `${h}} ${s.c}\n`,
  },
  {
    name: 'device_down_reason',
    help: 'Present (1) while the device is down; reason says which probes failed: icmp, snmp, both, unknown.',
    mode: 'basic',
    lines: (s, h) => (s.r ? `${h},reason="${s.r}"} 1\n` : ''),
  },
  {
    name: 'device_group_up',
    help: 'Devices several probe groups vote on: what each group holds after its own hysteresis, 1 up, 0 down.',
    mode: 'basic',
    // Group names are restricted to [a-z0-9_-] by config validation: safe as label values unescaped.
    lines: (s, h) => (s.g ? Object.entries(s.g).map(([group, v]) => `${h},group="${group}"} ${v}\n`).join('') : ''),
  },
  {
    name: 'probe_success',
    help: 'Outcome of the device\'s last probe of each kind: 1 answered, 0 no answer (prober-side errors omitted).',
    mode: 'full',
    lines: (s, h) => (s.i !== undefined ? `${h},probe="icmp"} ${s.i}\n` : '') + (s.p !== undefined ? `${h},probe="snmp"} ${s.p}\n` : ''),
  },
  { name: 'icmp_rtt_seconds', help: 'ICMP round-trip time of the device\'s last check (fping: its first reply; ping: the best reply).', mode: 'full', lines: (s, h) => (s.rtt !== undefined ? `${h}} ${s.rtt}\n` : '') },
  { name: 'device_uptime_seconds', help: 'The device agent\'s sysUpTime at its last SNMP answer.', mode: 'full', lines: (s, h) => (s.up !== undefined ? `${h}} ${s.up}\n` : '') },
];

export interface FleetCounts {
  up: number;
  down: number;
}

/**
 * Renders per-device series straight to exposition text from Redis, chunk by chunk: a
 * prom-client Gauge with 100k label sets costs far more memory and CPU per scrape. Returns the
 * fleet counts too, which are exported whatever the mode.
 *
 * Each chunk is joined into one flat string per family as it arrives, so the many small line
 * strings die young (cheap scavenges, not old-space GC) and no step joins 100k+ lines in one
 * long event-loop block.
 */
export async function renderDeviceSeries(
  batches: AsyncIterable<DeviceSeries[]>,
  mode: PerDeviceMetrics,
  visit?: (s: DeviceSeries) => void,
): Promise<{ parts: string[]; counts: FleetCounts }> {
  const families = FAMILIES.filter((f) => mode === 'full' || (mode === 'basic' && f.mode === 'basic'));
  const names = families.map((f) => `${P}${f.name}{`);
  const pieces = families.map(() => [] as string[]);
  const counts: FleetCounts = { up: 0, down: 0 };
  const labelsOf = labelRenderer();
  for await (const batch of batches) {
    const lines = families.map(() => [] as string[]);
    for (const s of batch) {
      visit?.(s);
      if (s.s === 1) counts.up++;
      else counts.down++;
      if (families.length === 0) continue;
      const labels = labelsOf(s);
      for (let i = 0; i < families.length; i++) lines[i]?.push((families[i] as Family).lines(s, names[i] + labels));
    }
    lines.forEach((l, i) => pieces[i]?.push(l.join('')));
  }
  const fleet = `# HELP ${P}devices Devices by decided status, over the whole fleet.\n# TYPE ${P}devices gauge\n${P}devices{status="up"} ${counts.up}\n${P}devices{status="down"} ${counts.down}\n`;
  // A few hundred flat pieces, in exposition order, never joined: the HTTP server writes them one
  // by one, so neither a 100k-line join nor encoding an 80 MB string blocks the event loop.
  const parts = [fleet, ...families.flatMap((f, i) => [`# HELP ${P}${f.name} ${f.help}\n# TYPE ${P}${f.name} gauge\n`, ...(pieces[i] ?? [])])];
  return { parts, counts };
}

/**
 * The label set of one device. Organizations and types repeat across the fleet, so their escaped
 * forms are remembered for the length of one render.
 */
function labelRenderer(): (s: DeviceSeries) => string {
  const seen = new Map<string, string>();
  const cached = (value: string) => {
    let escaped = seen.get(value);
    if (escaped === undefined) {
      escaped = escape(value);
      if (seen.size < 10_000) seen.set(value, escaped);
    }
    return escaped;
  };
  return (s) => `device_id="${s.id}",device="${escape(s.n)}",organization="${cached(s.o)}",type="${cached(s.t)}"`;
}

const NEEDS_ESCAPE = /[\\"\n]/;

/** Label value escaping per the exposition format: backslash, double quote, newline. */
function escape(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
