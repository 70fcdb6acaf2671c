import type { Config } from '../config/types.js';
import { renderDeviceSeries, type FleetCounts } from './device-exposition.js';
import type { DeviceSeries, DeviceSeriesStore } from './device-series.js';

export interface FleetSnapshot {
  /** Exposition text in pieces, in order: written one by one, never joined. */
  exposition: string[];
  counts: FleetCounts;
  /** Down devices for the status page, longest down first, capped. */
  down: DeviceSeries[];
  /** Up devices whose voting groups disagree (some hold them Down, too few to make them Down). */
  split: DeviceSeries[];
}

const MAX_DOWN_LISTED = 500;

/**
 * One walk over the per-device hash serves both the scrape and the status page, and is reused
 * for a few seconds: several Prometheus servers and a person refreshing the page cost one walk.
 */
export function createCachedSnapshot(series: DeviceSeriesStore, config: () => Config): () => Promise<FleetSnapshot> {
  let cached: { at: number; value: Promise<FleetSnapshot> } | undefined;
  return () => {
    const now = Date.now();
    const ttlMs = Math.min(5_000, (config().schedule.interval_seconds * 1000) / 2);
    if (!cached || now - cached.at > ttlMs) {
      const value = build(series, config());
      cached = { at: now, value };
      value.catch(() => (cached = undefined));
    }
    return cached.value;
  };
}

async function build(series: DeviceSeriesStore, config: Config): Promise<FleetSnapshot> {
  const down: DeviceSeries[] = [];
  const split: DeviceSeries[] = [];
  const { parts, counts } = await renderDeviceSeries(series.scan(), config.metrics.per_device, (s) => {
    if (s.s === 0 && down.length < MAX_DOWN_LISTED) down.push(s);
    else if (s.s === 1 && s.g && Object.values(s.g).includes(0) && split.length < MAX_DOWN_LISTED) split.push(s);
  });
  down.sort((a, b) => a.c - b.c);
  return { exposition: parts, counts, down, split };
}
