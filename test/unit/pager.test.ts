import { describe, expect, it } from 'vitest';
import { InventoryHttpError, InventoryNetworkError } from '../../src/inventory/errors.js';
import { pageConcurrently, type ListingFilter, type PagerFailure, type PagerPage } from '../../src/inventory/pager.js';
import type { ListPage } from '../../src/inventory/parse.js';

/**
 * The planning rules of concurrent paging, with the pages served from memory: which offsets are
 * asked for, what is flagged as a moved list, which failures end the listing. The same code
 * against the real test inventory server is in test/integration/concurrent-sweep.test.ts.
 */

type Serve = (filter: ListingFilter, offset: number) => ListPage | Error;

async function run(serve: Serve, o: { pageSize?: number; concurrency?: number; filters?: ListingFilter[] } = {}) {
  const asked: number[] = [];
  const items: (PagerPage | PagerFailure)[] = [];
  let error: unknown;
  try {
    for await (const item of pageConcurrently({
      filters: o.filters ?? [{}],
      pageSize: o.pageSize ?? 10,
      concurrency: o.concurrency ?? 4,
      fetchPage: async (filter, offset) => {
        asked.push(offset);
        await new Promise((r) => setImmediate(r));
        const page = serve(filter, offset);
        if (page instanceof Error) throw page;
        return page;
      },
    })) {
      items.push(item);
    }
  } catch (err) {
    error = err;
  }
  return { asked: asked.sort((a, b) => a - b), items, error };
}

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i + 1 }));
const page = (count: number, n: number): ListPage => ({ count, next: null, rows: rows(n) });
const pages = (items: (PagerPage | PagerFailure)[]) => items.filter((i): i is PagerPage => i.ok).sort((a, b) => a.offset - b.offset);

describe('concurrent paging plans offsets from the first count', () => {
  it('asks each offset of a 35-row listing once, in steps of the page size', async () => {
    const { asked, items } = await run((_, offset) => page(35, Math.min(10, 35 - offset)));
    expect(asked).toEqual([0, 10, 20, 30]);
    expect(pages(items).map((p) => [p.offset, p.rows.length, p.countChanged])).toEqual([[0, 10, false], [10, 10, false], [20, 10, false], [30, 5, false]]);
  });

  it('steps by what the server returns when it caps the page below page_size', async () => {
    const { asked } = await run((_, offset) => page(25, Math.min(5, 25 - offset)), { pageSize: 10 });
    expect(asked).toEqual([0, 5, 10, 15, 20]);
  });

  it('an empty first page of a listing whose count says otherwise is flagged, so nothing is retired on it', async () => {
    const { asked, items } = await run(() => page(40, 0));
    expect(asked).toEqual([0]);
    expect(pages(items).map((p) => p.countChanged)).toEqual([true]);
  });

  it('a page shorter than its offset promised, with the same count, is flagged', async () => {
    const { items } = await run((_, offset) => page(30, offset === 10 ? 7 : 10));
    expect(pages(items).map((p) => [p.offset, p.countChanged])).toEqual([[0, false], [10, true], [20, false]]);
  });

  it('a listing that shrank yields its empty pages as changed, and plans nothing past them', async () => {
    const { asked, items } = await run((_, offset) => (offset === 0 ? page(40, 10) : page(12, Math.max(0, Math.min(10, 12 - offset)))));
    expect(asked).toEqual([0, 10, 20, 30]);
    expect(pages(items).map((p) => [p.offset, p.count, p.countChanged])).toEqual([[0, 40, false], [10, 12, true], [20, 12, true], [30, 12, true]]);
  });
});

describe('failures', () => {
  const fiveHundred = () => new InventoryHttpError({ status: 500, method: 'GET', path: '/x' });

  it('a page that failed alone is yielded and the others are read', async () => {
    const { items, error } = await run((_, offset) => (offset === 20 ? fiveHundred() : page(40, 10)));
    expect(error).toBeUndefined();
    expect(items.filter((i) => !i.ok).map((i) => i.offset)).toEqual([20]);
    expect(pages(items).map((p) => p.offset)).toEqual([0, 10, 30]);
  });

  it('a listing whose first page failed is not read further; the other listings are', async () => {
    const { asked, items } = await run((filter, offset) => (filter.organization === 1 && offset === 0 ? fiveHundred() : page(20, 10)), {
      filters: [{ organization: 1 }, { organization: 2 }],
    });
    expect(asked).toEqual([0, 0, 10]);
    expect(items.filter((i) => !i.ok)).toHaveLength(1);
  });

  it('a failure every page shares (401) ends the listing at once', async () => {
    const { error } = await run((_, offset) => (offset === 10 ? new InventoryHttpError({ status: 401, method: 'GET', path: '/x' }) : page(100, 10)));
    expect(error).toMatchObject({ kind: 'unauthorized' });
  });

  it('page_concurrency failures in a row with no success between mean the inventory is down: the listing ends', async () => {
    const { error, asked } = await run((_, offset) => (offset === 0 ? page(1_000, 10) : new InventoryNetworkError('connect', 'GET', '/x')), { concurrency: 4 });
    expect(error).toMatchObject({ kind: 'connect' });
    expect(asked.length).toBeLessThan(20);
  });
});
