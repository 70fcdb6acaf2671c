import { ProberError } from '../errors.js';
import type { InventoryPage, PageFailure } from '../inventory/client.js';
import type { DetailLookup } from '../inventory/details.js';
import type { Device } from '../inventory/device.js';
import type { InventoryError } from '../inventory/errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { EnqueueResult } from '../queue/probe-queue.js';
import { DetailArrivals, PagesInProgress } from './sweep-progress.js';

export type SweepPage = Pick<InventoryPage, 'ok' | 'offset' | 'count' | 'listingCount' | 'countChanged' | 'duplicates' | 'devices' | 'invalid' | 'rows'>;

export interface SweepDeps {
  /** Pages of parsed, validated, de-duplicated devices, in any order; a page that failed alone is a PageFailure. */
  pages: (signal: AbortSignal) => AsyncIterable<SweepPage | PageFailure>;
  /** Records that the inventory lists these devices (fleet membership), whether probed this cycle or not. */
  listed: (ids: number[]) => Promise<void>;
  /** Devices ready to probe now, and promises of the others as their details arrive. */
  details: (devices: Device[], rows: unknown[]) => Promise<DetailLookup>;
  /** Hands devices to the probes; some may wait in a partial batch until `flush`. */
  dispatch: (devices: Device[], observedAtMs: number) => Promise<EnqueueResult>;
  /** Sends whatever `dispatch` still holds; runs after the last page, and after a failed one. */
  flush: () => Promise<EnqueueResult>;
  /** After the last page, the sweep waits for details in flight until this time (deps.now's clock), no later. */
  detailDeadlineMs: number;
  now: () => number;
  metrics: Metrics;
  /** Invalid rows already warned about, so a bad record costs one warning, not one per cycle. */
  warned: BoundedSet;
  logger: Logger;
}

export interface SweepSummary {
  cycle: number;
  pages: number;
  /** Valid devices the inventory listed, probed this cycle or not. */
  devices: number;
  enqueued: number;
  alreadyPending: number;
  invalid: number;
  /**
   * Pages showing the list moved while it was read (its count changed, the page came short, or
   * it repeated a row already read): rows may have shifted past us, so this sweep is incomplete.
   */
  countChanges: number;
  /** Pages that failed on their own (malformed, or transient errors past their retries). */
  failedPages: number;
  /** Listed devices not probed this cycle: their detail had not arrived by the end of the sweep. */
  awaitingDetail: number;
  /** Inventory requests started during the sweep, retries included. */
  requests: { list: number; detail: number };
  durationMs: number;
}

/** Some pages failed; every other page was read and its devices probed. */
export class SweepIncompleteError extends ProberError {
  /** The first failed page's kind (malformed_page, server_error, timeout, ...): what to look at. */
  readonly kind: string;
  readonly retryable = true;

  constructor(
    readonly summary: SweepSummary,
    readonly firstFailure: InventoryError,
  ) {
    super(`${summary.failedPages} inventory page(s) failed, the first with: ${firstFailure.message}`, { cause: firstFailure });
    this.kind = firstFailure.kind;
  }
}

/** How often devices whose detail arrived are handed to the probes, in batches. */
const DETAIL_DRAIN_MS = 250;


/**
 * One pass over the inventory. Pages arrive concurrently; each is dispatched as soon as it is
 * read, its devices whose detail is cached (or not needed) at once, the others as their
 * details arrive (DetailsCache). A device whose detail has not arrived when the sweep ends
 * (its last page read and, at most, `detailDeadlineMs`) is not probed this cycle: probing its
 * list hostname with the default community could report a healthy device Down. It is counted
 * (`awaitingDetail`), its fetch goes on, and the next sweep finds it cached.
 *
 * A failed page costs that page: the others are read and probed, then the sweep ends with a
 * SweepIncompleteError so no device is retired on its account. A failure every page shares
 * (401, abort) ends the sweep at once; what was read is still probed.
 */
export async function runSweep(deps: SweepDeps, cycle: number, signal: AbortSignal): Promise<SweepSummary> {
  const started = deps.now();
  const summary: SweepSummary = {
    cycle, pages: 0, devices: 0, enqueued: 0, alreadyPending: 0, invalid: 0, countChanges: 0, failedPages: 0, awaitingDetail: 0, requests: { list: 0, detail: 0 }, durationMs: 0,
  };
  const arrivals = new DetailArrivals();
  const add = (result: EnqueueResult) => {
    summary.enqueued += result.added;
    summary.alreadyPending += result.alreadyPending;
  };
  const dispatchArrived = async () => {
    const devices = arrivals.take();
    if (devices.length > 0) add(await deps.dispatch(devices, deps.now()));
  };
  let firstFailure: InventoryError | undefined;
  const inProgress = new PagesInProgress();
  try {
    for await (const page of deps.pages(signal)) {
      if (!page.ok) {
        summary.failedPages++;
        firstFailure ??= page.error;
        deps.logger.warn({ cycle, offset: page.offset, filter: page.filter, kind: page.error.kind, err: page.error }, 'inventory page failed; the other pages go on and no device is retired this cycle');
        continue;
      }
      await inProgress.add(readPage(deps, cycle, page, summary, arrivals).then(dispatchArrived));
    }
    await inProgress.drain();
    // Details still on their way get until the deadline; the probes take them as they come.
    while (arrivals.outstanding > 0 && deps.now() < deps.detailDeadlineMs && !signal.aborted) {
      await arrivals.next(Math.min(DETAIL_DRAIN_MS, deps.detailDeadlineMs - deps.now()), signal);
      await dispatchArrived();
    }
    // Those that came in while the last batch was being queued.
    await dispatchArrived();
  } catch (err) {
    // The failure is what the caller needs to hear about; a flush failing too adds nothing.
    await inProgress.drain().catch(() => {});
    await dispatchArrived().catch(() => {});
    await deps.flush().then(add, () => {});
    throw err;
  } finally {
    summary.awaitingDetail = arrivals.close();
  }
  add(await deps.flush());
  deps.metrics.sweepDevicesAwaitingDetail.set(summary.awaitingDetail);
  deps.metrics.devicesAwaitingDetailTotal.inc(summary.awaitingDetail);
  if (summary.awaitingDetail > 0) {
    deps.logger.info({ cycle, devices: summary.awaitingDetail }, 'devices awaiting their detail are not probed this cycle; their fetch goes on');
  }
  summary.durationMs = deps.now() - started;
  if (firstFailure) throw new SweepIncompleteError(summary, firstFailure);
  return summary;
}

async function readPage(deps: SweepDeps, cycle: number, page: SweepPage, summary: SweepSummary, arrivals: DetailArrivals): Promise<void> {
  summary.pages++;
  if (page.countChanged || page.duplicates > 0) {
    summary.countChanges++;
    deps.logger.warn(
      { cycle, offset: page.offset, countBefore: page.listingCount, countAfter: page.count, repeatedRows: page.duplicates },
      'inventory changed during the sweep; no device is retired this cycle',
    );
  }
  reportInvalid(deps, page);
  summary.invalid += page.invalid.length;
  summary.devices += page.devices.length;
  await deps.listed(page.devices.map((d) => d.id));
  const { ready, fetching } = await deps.details(page.devices, page.rows);
  for (const detail of fetching) arrivals.expect(detail);
  const result = await deps.dispatch(ready, deps.now());
  summary.enqueued += result.added;
  summary.alreadyPending += result.alreadyPending;
  deps.logger.debug({ cycle, offset: page.offset, count: page.count, devices: page.devices.length, awaitingDetail: fetching.length }, 'sweep page dispatched');
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
