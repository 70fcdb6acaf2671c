import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Secret } from '../../src/config/secret.js';
import { InventoryClient } from '../../src/inventory/client.js';
import type { Device } from '../../src/inventory/device.js';
import { DetailsCache } from '../../src/inventory/details.js';
import { createInventoryHttp } from '../../src/inventory/http.js';
import { redisKeys } from '../../src/redis/keys.js';
import { fakeDevice, startInventoryServer, type InventoryServer } from '../support/inventory-server.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';

const TOKEN = 'details-test-token';
let redisServer: ThrowAwayRedis;
let redis: Redis;
let inventory: InventoryServer;
let client: InventoryClient;
let prefix: string;
let run = 0;

beforeAll(async () => {
  redisServer = await startRedis();
  redis = new Redis(redisServer.url);
});

afterAll(async () => {
  redis.disconnect();
  await redisServer.stop();
});

beforeEach(async () => {
  prefix = `ip-test-${++run}`;
  inventory = await startInventoryServer({
    token: TOKEN,
    devices: [
      fakeDevice(1, { hostname: 'router-1.lab', management_ip: '127.0.1.1', snmp_community: 'comm-one' }),
      fakeDevice(2, { hostname: 'router-2.lab', management_ip: '127.0.1.2', snmp_community: 'comm-two' }),
      fakeDevice(3, { hostname: '127.0.0.3', management_ip: null, snmp_community: null }),
    ],
  });
  client = new InventoryClient(
    createInventoryHttp({ url: inventory.url, token: new Secret(TOKEN), timeoutMs: 2_000, retries: 0 }),
  );
  return async () => {
    await client.close();
    await inventory.close();
  };
});

const detailRequests = () => inventory.log.filter((r) => r.method === 'GET' && /\/inventory_device\/\d+\/$/.test(r.url)).length;

/** One sweep as main.ts composes it: list pages, then enrich each page. */
async function sweep(cache: DetailsCache): Promise<Map<number, Device>> {
  const devices = new Map<number, Device>();
  for await (const page of client.listDevices({ pageSize: 2, filters: { organization: [], type: [] } })) {
    if (!page.ok) throw page.error;
    for (const d of await cache.enrich(page.devices, page.rows)) devices.set(d.id, d);
  }
  return devices;
}

const newCache = (concurrency = 8) => new DetailsCache({ redis, prefix, inventory: client, concurrency });

describe('device details cache', () => {
  it('first sweep fetches each new device detail and probes its management_ip with its community', async () => {
    const devices = await sweep(newCache());
    expect(detailRequests()).toBe(3);
    expect(devices.get(1)).toMatchObject({ target: '127.0.1.1', snmpCommunity: 'comm-one' });
    expect(devices.get(2)).toMatchObject({ target: '127.0.1.2', snmpCommunity: 'comm-two' });
    expect(devices.get(3)).toMatchObject({ target: '127.0.0.3', snmpCommunity: undefined });
  });

  it('second sweep with unchanged updated_at makes zero detail requests and gives the same devices', async () => {
    const cache = newCache();
    const first = await sweep(cache);
    const before = detailRequests();
    const second = await sweep(newCache()); // a fresh process: the cache lives in Redis
    expect(detailRequests()).toBe(before);
    expect(second).toEqual(first);
  });

  it('a changed updated_at refetches only that device and picks up its new address', async () => {
    const cache = newCache();
    await sweep(cache);
    const before = inventory.log.length;
    const device = inventory.devices.find((d) => d.id === 2)!;
    device.management_ip = '127.0.2.2';
    device.updated_at = '2024-02-01T00:00:00Z';
    const devices = await sweep(cache);
    const fetched = inventory.log.slice(before).filter((r) => /\/inventory_device\/\d+\/$/.test(r.url));
    expect(fetched.map((r) => r.url)).toEqual(['/api/v1/inventory_device/2/']);
    expect(devices.get(2)).toMatchObject({ target: '127.0.2.2', updatedAt: '2024-02-01T00:00:00Z' });
  });

  it('our own status PATCH moves updated_at, so the next sweep refetches that one detail', async () => {
    const cache = newCache();
    await sweep(cache);
    await client.patchStatus(1, false);
    const before = detailRequests();
    await sweep(cache);
    expect(detailRequests()).toBe(before + 1);
  });

  it('a failing detail fetch falls back to the list hostname and default community, and is retried next sweep', async () => {
    inventory.setFault({ kind: 'status', code: 500, method: 'GET', path: '/inventory_device/1/' });
    const cache = newCache();
    const devices = await sweep(cache);
    expect(devices.get(1)).toMatchObject({ target: 'router-1.lab', snmpCommunity: undefined });
    expect(devices.get(2)).toMatchObject({ target: '127.0.1.2' });
    inventory.setFault(null);
    const before = detailRequests();
    expect((await sweep(cache)).get(1)).toMatchObject({ target: '127.0.1.1', snmpCommunity: 'comm-one' });
    expect(detailRequests()).toBe(before + 1);
  });

  it('an unsafe management_ip in the detail is never probed: the list hostname is kept', async () => {
    inventory.devices[0]!.management_ip = '-f';
    expect((await sweep(newCache())).get(1)).toMatchObject({ target: 'router-1.lab' });
  });

  it('entries expire, so devices that left the inventory do not stay in Redis forever', async () => {
    await sweep(new DetailsCache({ redis, prefix, inventory: client, ttlSeconds: 600 }));
    const ttl = await redis.ttl(redisKeys.deviceDetail(prefix, 1));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600);
  });

  it('rows that already carry management_ip or snmp_community cost no Redis or detail lookups', async () => {
    const calls: number[] = [];
    const cache = new DetailsCache({ redis, prefix, inventory: { getDevice: async (id) => void calls.push(id) } });
    const device: Device = { id: 9, name: 'r9', target: '127.0.0.9', organization: null, type: null, inventoryStatus: true, updatedAt: null, snmpCommunity: 'c' };
    const out = await cache.enrich([device], [{ id: 9, hostname: '127.0.0.9', management_ip: '127.0.0.9', snmp_community: 'c' }]);
    expect(out).toEqual([device]);
    expect(calls).toEqual([]);
  });

  it('never has more detail requests in flight than the configured concurrency', async () => {
    let inFlight = 0;
    let peak = 0;
    const getDevice = async (id: number) => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return { id, management_ip: `127.0.3.${id}`, snmp_community: null };
    };
    const cache = new DetailsCache({ redis, prefix, inventory: { getDevice }, concurrency: 3 });
    const devices: Device[] = Array.from({ length: 20 }, (_, i) => ({
      id: i + 1, name: `d${i + 1}`, target: `127.0.0.${i + 1}`, organization: null, type: null, inventoryStatus: true, updatedAt: 't0', snmpCommunity: undefined,
    }));
    const out = await cache.enrich(devices, devices.map((d) => ({ id: d.id, hostname: d.target })));
    expect(out.map((d) => d.target)).toEqual(devices.map((d) => `127.0.3.${d.id}`));
    expect(peak).toBe(3);
  });

  it('reads a page of cached details in one call, also after Redis forgot its scripts, and a damaged entry is only a miss', async () => {
    await sweep(newCache());
    const before = detailRequests();
    // A restarted or failed-over Redis has no scripts: the call sends the body once and goes on.
    await redis.script('FLUSH');
    // A key of the wrong type (damaged by hand) must cost that device a refetch, not the page.
    await redis.del(redisKeys.deviceDetail(prefix, 2));
    await redis.set(redisKeys.deviceDetail(prefix, 2), 'not a hash');
    const devices = await sweep(newCache());
    expect(devices.get(1)).toMatchObject({ target: '127.0.1.1', snmpCommunity: 'comm-one' });
    expect(devices.get(3)).toMatchObject({ target: '127.0.0.3', snmpCommunity: undefined });
    expect(devices.get(2)).toMatchObject({ target: '127.0.1.2', snmpCommunity: 'comm-two' });
    expect(detailRequests()).toBe(before + 1);
  });
});
