import { InventoryError, MalformedPageError } from './errors.js';
import type { ListPage } from './parse.js';

export type ListingFilter = { organization?: number; type?: number };

export interface PagerOptions {
  /** One listing per filter combination; all of them share the concurrency bound. */
  filters: ListingFilter[];
  pageSize: number;
  /** Pages in flight at once (inventory.page_concurrency). */
  concurrency: number;
  signal?: AbortSignal;
  /** GETs and checks the envelope of one page; throws an InventoryError. */
  fetchPage: (filter: ListingFilter, offset: number, signal: AbortSignal) => Promise<ListPage>;
}

export interface PagerPage {
  ok: true;
  filter: ListingFilter;
  offset: number;
  count: number;
  /** `count` as the listing's first page gave it: the count every offset was planned from. */
  listingCount: number;
  /**
   * The listing moved while it was read: this page's count differs from the first page's, or
   * it has fewer rows than its offset promised. Rows may have shifted past the sweep.
   */
  countChanged: boolean;
  rows: unknown[];
}

export interface PagerFailure {
  ok: false;
  filter: ListingFilter;
  offset: number;
  error: InventoryError;
}

interface Listing {
  count: number;
  /** Distance between planned offsets: page_size, or the server's own cap if it returns fewer rows. */
  step: number;
  /** First offset not planned yet. */
  plannedEnd: number;
}

interface Task {
  filter: ListingFilter;
  offset: number;
  listing?: Listing;
}

type Settled = { id: number; task: Task } & ({ page: ListPage } | { error: unknown });

/**
 * Reads listings concurrently. Each listing's first page gives `count`; every other offset is
 * then computed from it and fetched in parallel (never from `next`, which could point at another
 * origin). Pages are yielded as they arrive, in no particular order.
 *
 * One page's failure (a malformed body, or a 5xx / timeout that outlived its retries) is
 * yielded and the other pages go on; a failure no other page can escape (401, 403, 400, a
 * redirect, an abort) ends the whole listing at once, as do `concurrency` failed pages in a
 * row with no success between (the inventory is down, not one page broken). A listing whose
 * first page failed can't be planned: it is read no further.
 */
export async function* pageConcurrently(opts: PagerOptions): AsyncGenerator<PagerPage | PagerFailure> {
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const tasks: Task[] = opts.filters.map((filter) => ({ filter, offset: 0 }));
  const inFlight = new Map<number, Promise<Settled>>();
  const failuresInARow = Math.max(3, opts.concurrency);
  let nextId = 0;
  let failedInARow = 0;
  const start = () => {
    while (inFlight.size < opts.concurrency && tasks.length > 0) {
      const task = tasks.shift() as Task;
      const id = nextId++;
      const settled = opts.fetchPage(task.filter, task.offset, signal).then(
        (page): Settled => ({ id, task, page }),
        (error: unknown): Settled => ({ id, task, error }),
      );
      inFlight.set(id, settled);
    }
  };
  try {
    start();
    while (inFlight.size > 0) {
      const done = await Promise.race(inFlight.values());
      inFlight.delete(done.id);
      if ('error' in done) {
        if (!failsOnePage(done.error) || opts.signal?.aborted || ++failedInARow >= failuresInARow) throw done.error;
        start();
        yield { ok: false, filter: done.task.filter, offset: done.task.offset, error: done.error };
        continue;
      }
      failedInARow = 0;
      const page = plan(done.task, done.page, opts.pageSize, tasks);
      start();
      // An empty page is news only when it says the listing shrank.
      if (page.rows.length > 0 || page.countChanged) yield page;
    }
  } finally {
    // A consumer that stops early (or a fatal failure) cancels every request still out.
    stop.abort();
  }
}

function failsOnePage(err: unknown): err is InventoryError {
  return err instanceof MalformedPageError || (err instanceof InventoryError && err.retryable);
}

/** Turns a fetched page into a yielded one, and plans the offsets it makes known. */
function plan(task: Task, page: ListPage, pageSize: number, tasks: Task[]): PagerPage {
  const rows = page.rows;
  let listing = task.listing;
  let countChanged: boolean;
  if (!listing) {
    // A server that caps `limit` below page_size returns fewer rows on a full page: step by what it gives.
    const step = rows.length > 0 && rows.length < pageSize && page.count > rows.length ? rows.length : pageSize;
    listing = { count: page.count, step, plannedEnd: step };
    // An empty first page of a non-empty listing tells nothing about its devices: don't let it retire them.
    countChanged = rows.length === 0 && page.count > 0;
  } else {
    const expected = Math.min(listing.step, listing.count - task.offset);
    countChanged = page.count !== listing.count || rows.length < expected;
  }
  // Rows added at the end while the sweep runs are read too. An empty page plans nothing more.
  if (rows.length > 0) {
    for (const end = Math.max(listing.count, page.count); listing.plannedEnd < end; listing.plannedEnd += listing.step) {
      tasks.push({ filter: task.filter, offset: listing.plannedEnd, listing });
    }
  }
  return { ok: true, filter: task.filter, offset: task.offset, count: page.count, listingCount: listing.count, countChanged, rows };
}
