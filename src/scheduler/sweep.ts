import type { InvalidRow } from '../inventory/client.js';
import type { Device } from '../inventory/device.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { EnqueueResult } from '../queue/probe-queue.js';

export interface SweepPage {
  offset: number;
  count: number;
  devices: Device[];
  invalid: InvalidRow[];
}

export interface SweepDeps {
  /** Pages of parsed, validated, de-duplicated devices with details filled in. */
  pages: (signal: AbortSignal) => AsyncIterable<SweepPage>;
  /** Hands one page of devices to the probes; some may wait in a partial batch until `flush`. */
  dispatch: (devices: Device[], observedAtMs: number) => Promise<EnqueueResult>;
  /** Sends whatever `dispatch` still holds; runs after the last page, and after a failed one. */
  flush: () => Promise<EnqueueResult>;
  now: () => number;
  metrics: Metrics;
  /** Invalid rows already warned about, so a bad record costs one warning, not one per cycle. */
  warned: BoundedSet;
  logger: Logger;
}

export interface SweepSummary {
  cycle: number;
  pages: number;
  devices: number;
  enqueued: number;
  alreadyPending: number;
  invalid: number;
  /** Listings whose `count` moved between pages: rows may have shifted past us, so this sweep is incomplete. */
  countChanges: number;
  durationMs: number;
}

/**
 * One pass over the inventory: each page is dispatched as soon as it is read, so memory holds
 * one page (plus the partial batches) at a time. A failing page throws and ends the sweep; the
 * pages already read are probed as usual, and nothing about the devices on the failed page changes.
 */
export async function runSweep(deps: SweepDeps, cycle: number, signal: AbortSignal): Promise<SweepSummary> {
  const started = deps.now();
  const summary: SweepSummary = { cycle, pages: 0, devices: 0, enqueued: 0, alreadyPending: 0, invalid: 0, countChanges: 0, durationMs: 0 };
  const flush = async () => {
    const rest = await deps.flush();
    summary.enqueued += rest.added;
    summary.alreadyPending += rest.alreadyPending;
  };
  try {
    await readPages(deps, cycle, signal, summary);
  } catch (err) {
    // The failure is what the caller needs to hear about; a flush failing too adds nothing.
    await flush().catch(() => {});
    throw err;
  }
  await flush();
  summary.durationMs = deps.now() - started;
  return summary;
}

async function readPages(deps: SweepDeps, cycle: number, signal: AbortSignal, summary: SweepSummary): Promise<void> {
  let listingCount = -1;
  for await (const page of deps.pages(signal)) {
    summary.pages++;
    // Offset 0 starts a listing (one per filter combination); a later page with another count means the list moved.
    if (page.offset > 0 && page.count !== listingCount) {
      summary.countChanges++;
      deps.logger.warn({ cycle, offset: page.offset, countBefore: listingCount, countAfter: page.count }, 'inventory changed during the sweep; no device is retired this cycle');
    }
    listingCount = page.count;
    reportInvalid(deps, page);
    summary.invalid += page.invalid.length;
    const result = await deps.dispatch(page.devices, deps.now());
    summary.devices += page.devices.length;
    summary.enqueued += result.added;
    summary.alreadyPending += result.alreadyPending;
    deps.logger.debug({ cycle, offset: page.offset, count: page.count, devices: page.devices.length }, 'sweep page dispatched');
  }
}

function reportInvalid(deps: SweepDeps, page: SweepPage): void {
  for (const row of page.invalid) {
    deps.metrics.invalidDevicesTotal.inc({ reason: row.reason.split(':')[0] ?? 'invalid' });
    // Keyed by the id as received (or the row's place, without one): each bad row warns once.
    const fresh = deps.warned.add(`${row.rowId ?? `@${page.offset + row.index}`}|${row.reason}`);
    const level = fresh ? 'warn' : 'debug';
    const { id, rowId, rowName, index, reason } = row;
    deps.logger[level]({ deviceId: id, rowId, rowName, offset: page.offset, index, reason }, 'device skipped: invalid inventory record');
  }
}

/** A set that forgets its oldest entries past `limit`, so memory stays flat on a hostile inventory. */
export class BoundedSet {
  private readonly items = new Set<string>();
  constructor(private readonly limit = 10_000) {}

  /** Adds the key; true when it was not there. */
  add(key: string): boolean {
    if (this.items.has(key)) return false;
    this.items.add(key);
    if (this.items.size > this.limit) this.items.delete(this.items.values().next().value as string);
    return true;
  }
}
