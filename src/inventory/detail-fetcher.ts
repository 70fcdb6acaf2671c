import type { Device } from './device.js';

export interface DetailFetcherOptions<D> {
  /** Fetches (and stores) one device's detail; resolves undefined when it could not. Never rejects. */
  fetch: (device: Device, signal: AbortSignal) => Promise<D | undefined>;
  /** Fetches in flight at once (inventory.detail_concurrency). */
  concurrency: number;
}

interface Entry<D> {
  promise: Promise<D | undefined>;
  resolve: (detail: D | undefined) => void;
}

/**
 * Detail fetches that outlive the sweep that asked for them. A sweep queues the devices whose
 * detail it lacks and goes on paging; the fetches run here, `concurrency` at a time, and fill
 * the cache whether or not the sweep that asked still waits. A device asked for again while
 * its fetch is queued or in flight (the next sweep, on a cold start) shares that fetch, so a
 * slow start never asks the inventory for one detail twice.
 */
export class DetailFetcher<D> {
  private readonly queue: Device[] = [];
  private readonly entries = new Map<number, Entry<D>>();
  private readonly stop = new AbortController();
  private lanes = 0;

  constructor(private readonly opts: DetailFetcherOptions<D>) {}

  /** Devices queued or being fetched. */
  get pending(): number {
    return this.entries.size;
  }

  /** The device's detail once fetched; undefined when the fetch failed or the fetcher was closed. */
  request(device: Device): Promise<D | undefined> {
    const known = this.entries.get(device.id);
    if (known) return known.promise;
    if (this.stop.signal.aborted) return Promise.resolve(undefined);
    let resolve!: (detail: D | undefined) => void;
    const promise = new Promise<D | undefined>((r) => (resolve = r));
    this.entries.set(device.id, { promise, resolve });
    this.queue.push(device);
    if (this.lanes < this.opts.concurrency) void this.lane();
    return promise;
  }

  /** Stops fetching (shutdown): queued devices resolve undefined, requests in flight are aborted. */
  close(): void {
    this.stop.abort();
    for (const device of this.queue.splice(0)) this.settle(device.id, undefined);
  }

  private async lane(): Promise<void> {
    this.lanes++;
    try {
      for (let device = this.queue.shift(); device; device = this.queue.shift()) {
        const detail = this.stop.signal.aborted ? undefined : await this.opts.fetch(device, this.stop.signal).catch(() => undefined);
        this.settle(device.id, detail);
      }
    } finally {
      this.lanes--;
    }
  }

  private settle(id: number, detail: D | undefined): void {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    entry?.resolve(detail);
  }
}
