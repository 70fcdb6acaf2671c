import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInventoryServer, type FakeDevice, type InventoryServer } from '../support/inventory-server.js';
import type { SnmpAgent } from '../support/snmp-agent.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { metricValue, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml, loopbackFleet, runDaemon, startAgents } from '../support/fleet.js';

/**
 * Inventory trouble is the prober's trouble, never the devices': whatever the inventory API does
 * (refuse, 500, throttle, stall, send garbage, cut the body, shift under a sweep), the sweep fails
 * or retries cleanly, says so in a log line and a metric, and no device is marked Down for it.
 */

const TOKEN = 'fault-inv-token-41';
const COMMUNITY = 'fault-inv-community-41';
const ADDRESSES = ['127.0.41.1', '127.0.41.2', '127.0.41.3', '127.0.41.4', '127.0.41.5'];
const LIST = 'inventory_device/?';

let redis: ThrowAwayRedis;
let inventory: InventoryServer;
let devices: FakeDevice[];
let agents: SnmpAgent[] = [];
let daemon: DaemonProcess;
let metricsPort: number;

const metric = (name: string, labels: Record<string, string> = {}) => metricValue(metricsPort, `inventory_prober_${name}`, labels).catch(() => 0);
const sweeps = (result: 'ok' | 'failed') => metric('sweeps_total', { result });
const sweepFailures = (kind: string) => daemon.logs.filter((l) => l.msg === 'sweep failed; no device changed because of it' && l.kind === kind);
const downFlips = () => daemon.logs.filter((l) => l.msg === 'device flipped' && l.to === 'down');
const patchesFalse = () => inventory.patches.filter((p) => (p.body as { status?: unknown }).status === false);

/** Waits for the sweep after a fault to fail, then clears the fault and waits for a good sweep. */
async function expectSweepFailsThenRecovers(kind: string, code: string): Promise<void> {
  const failedBefore = await sweeps('failed');
  await waitFor(`a failed sweep (${kind})`, async () => (await sweeps('failed')) > failedBefore && sweepFailures(kind).length > 0, 30_000);
  expect(await metric('inventory_requests_total', { method: 'GET', code })).toBeGreaterThan(0);
  inventory.setFault(null);
  const okBefore = await sweeps('ok');
  await waitFor('a good sweep after the fault', async () => (await sweeps('ok')) > okBefore, 30_000);
}

beforeAll(async () => {
  redis = await startRedis();
  agents = await startAgents(ADDRESSES, { community: COMMUNITY });
  devices = loopbackFleet(ADDRESSES, COMMUNITY);
  inventory = await startInventoryServer({ token: TOKEN, devices });
  const site = { inventoryUrl: inventory.url, prefix: 'fault-inv', snmpPort: (agents[0] as SnmpAgent).port };
  const config = writeConfig(
    daemonYaml(site, {
      inventory: { page_size: 2, timeout_ms: 700, retries: 2 },
      reporter: { backoff_ms: 200, max_backoff_ms: 1000 },
    }),
  );
  ({ daemon, metricsPort } = await runDaemon(config, { token: TOKEN, redisUrl: redis.url, env: { SNMP_COMMUNITY: COMMUNITY, LOG_LEVEL: 'debug' } }));
  await waitFor('every device checked twice', async () => (await metric('checks_total', { outcome: 'up' })) >= 2 * ADDRESSES.length, 60_000);
}, 90_000);

afterAll(async () => {
  await daemon?.stop('SIGKILL');
  await Promise.all(agents.map((a) => a.close()));
  await inventory?.close();
  await redis?.stop();
});

describe('inventory faults: the sweep fails or retries cleanly, no device is blamed', () => {
  it('connection refused: the sweep fails with kind "connect", and a new server on the same port is swept again', async () => {
    const port = Number(new URL(inventory.url).port);
    const failedBefore = await sweeps('failed');
    await inventory.close();
    await waitFor('a sweep failed on connect', async () => (await sweeps('failed')) > failedBefore && sweepFailures('connect').length > 0, 30_000);
    expect(await metric('inventory_requests_total', { method: 'GET', code: 'connect' })).toBeGreaterThan(0);

    inventory = await startInventoryServer({ token: TOKEN, devices, port });
    const okBefore = await sweeps('ok');
    await waitFor('a good sweep against the new server', async () => (await sweeps('ok')) > okBefore, 30_000);
    expect(inventory.log.some((r) => r.url.includes(LIST))).toBe(true);
  }, 60_000);

  it('HTTP 500 on every list request: retried, then the sweep fails; it recovers when the server does', async () => {
    inventory.setFault({ kind: 'status', code: 500, path: LIST });
    await expectSweepFailsThenRecovers('server_error', '500');
  }, 60_000);

  it('429 with Retry-After: the request is retried after the server-given delay and the sweep succeeds', async () => {
    const failedBefore = await sweeps('failed');
    const okBefore = await sweeps('ok');
    const throttledBefore = await metric('inventory_requests_total', { method: 'GET', code: '429' });
    inventory.setFault({ kind: 'retry-after', seconds: 1, path: LIST, times: 1 });
    await waitFor('the throttled request to be answered', async () => (await metric('inventory_requests_total', { method: 'GET', code: '429' })) > throttledBefore, 30_000);
    await waitFor('a good sweep after the throttled one', async () => (await sweeps('ok')) > okBefore + 1, 30_000);
    const retry = daemon.logs.find((l) => l.msg === 'inventory request failed; retrying' && l.kind === 'rate_limited');
    expect(retry).toMatchObject({ delayMs: 1000, retry: 1 });
    expect(await sweeps('failed')).toBe(failedBefore);
  }, 60_000);

  it('a response slower than inventory.timeout_ms: each attempt times out, the sweep fails, then recovers', async () => {
    inventory.setFault({ kind: 'delay', ms: 2_000, path: LIST });
    await expectSweepFailsThenRecovers('timeout', 'timeout');
  }, 60_000);

  it('malformed JSON in a 200: the page is refused (not retried), the sweep fails, then recovers', async () => {
    inventory.setFault({ kind: 'malformed', path: LIST });
    await expectSweepFailsThenRecovers('malformed_page', '200');
  }, 60_000);

  it('a truncated body: counted as "truncated", the sweep fails, then recovers', async () => {
    inventory.setFault({ kind: 'truncated', path: LIST });
    await expectSweepFailsThenRecovers('truncated', 'truncated');
  }, 60_000);

  it('the device count changes between pages of one sweep: the sweep ends, and every device is still probed', async () => {
    // Between the first and second page, device 1 disappears (the list shifts left), then comes back.
    const removed = devices[0] as FakeDevice;
    let shifted = false;
    const push = inventory.log.push.bind(inventory.log);
    inventory.log.push = (...items) => {
      for (const r of items) {
        if (!shifted && r.url.includes(LIST) && r.url.includes('offset=2')) {
          shifted = true;
          devices.splice(devices.indexOf(removed), 1);
        } else if (shifted && r.url.includes(LIST) && r.url.includes('offset=0') && !devices.includes(removed)) {
          devices.unshift(removed);
        }
      }
      return push(...items);
    };
    await waitFor('the list to shift under a sweep', () => shifted, 30_000);
    const okBefore = await sweeps('ok');
    await waitFor('two more good sweeps', async () => (await sweeps('ok')) >= okBefore + 2, 30_000);
    inventory.log.push = push;
    const checksBefore = await metric('checks_total', { outcome: 'up' });
    await waitFor('every device checked again', async () => (await metric('checks_total', { outcome: 'up' })) >= checksBefore + 2 * ADDRESSES.length, 30_000);
    expect(devices).toHaveLength(ADDRESSES.length);
    // A sweep that saw the list move under it missed a device that still exists: it says so, and retires nothing.
    expect(daemon.logs.find((l) => l.msg === 'inventory changed during the sweep; no device is retired this cycle')).toMatchObject({ level: 'warn', countBefore: 5, countAfter: 4 });
    expect(daemon.logs.filter((l) => l.msg === 'devices no longer in the inventory: series and state dropped')).toEqual([]);
  }, 60_000);

  it('through all of the above, no device was marked Down', () => {
    expect(downFlips()).toEqual([]);
    expect(patchesFalse()).toEqual([]);
    expect(inventory.devices.every((d) => d.status === true)).toBe(true);
  });

  it('PATCHes failing during an inventory outage are delivered after it, with the latest state', async () => {
    // Device 2 goes down and stays down; device 3 goes down and comes back before the outage ends.
    const patch500Before = await metric('inventory_requests_total', { method: 'PATCH', code: '500' });
    inventory.setFault({ kind: 'status', code: 500, method: 'PATCH' });
    agents[1]?.setResponding(false);
    agents[2]?.setResponding(false);
    await waitFor('devices 2 and 3 to flip down', () => [2, 3].every((id) => downFlips().some((f) => f.deviceId === id)), 30_000);
    await waitFor('PATCHes refused with 500', async () => (await metric('inventory_requests_total', { method: 'PATCH', code: '500' })) > patch500Before, 30_000);
    agents[2]?.setResponding(true);
    await waitFor('device 3 to flip back up', () => daemon.logs.some((l) => l.msg === 'device flipped' && l.deviceId === 3 && l.to === 'up'), 30_000);
    expect(inventory.patches).toEqual([]);

    inventory.setFault(null);
    await waitFor('the held PATCH of device 2 to be delivered', () => inventory.patches.length > 0, 30_000);
    const checks = await metric('checks_total');
    await waitFor('three more cycles', async () => (await metric('checks_total')) >= checks + 3 * ADDRESSES.length, 30_000);
    expect(inventory.patches.map((p) => ({ id: p.id, body: p.body }))).toEqual([{ id: 2, body: { status: false } }]);
    expect(inventory.devices.find((d) => d.id === 2)?.status).toBe(false);
    expect(inventory.devices.find((d) => d.id === 3)?.status).toBe(true);
    expect(await metric('patch_failures_total', { reason: 'http_5xx' })).toBeGreaterThan(0);
    agents[1]?.setResponding(true);
  }, 90_000);
});
