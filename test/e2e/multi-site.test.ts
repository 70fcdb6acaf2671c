import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../../src/redis/keys.js';
import { metricValue, startDaemon, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml, type ConfigOverrides } from '../support/fleet.js';
import { fakeDevice, startInventoryServer, type InventoryServer } from '../support/inventory-server.js';
import { freePort, startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { alertFires, hasPromtool } from '../support/promtool-eval.js';
import { canCreateSites, createSite, type Site } from '../support/sites.js';

/**
 * Two sites whose networks use the same addresses: in each site's namespace, 10.77.0.1 and
 * 10.77.0.2 are that site's own devices, and 10.77.0.3 is a core router both sites can see. One
 * worker per site runs inside its namespace (WORKER_GROUPS=a or b, worker.report: false) and
 * reaches Redis through its veth, and nothing else: no inventory URL, no token. One central
 * `--role all` process on the host sweeps, routes organization 1 to site a, organization 2 to
 * site b and organization 3 to both with quorum 2, and PATCHes the flips. Each site's SNMP agents
 * report their own uptime, so a device's series shows which network answered for it.
 */
const TOKEN = 'multi-site-token-7c3e';
const COMMUNITY = 'multi-site-community-41d2';
const PREFIX = 'multi-site';
const TICKS = { a: 1_000_000, b: 5_000_000 };
const org = (id: number) => ({ id, name: `Org ${id}` });
const DEVICES = [
  fakeDevice(1, { name: 'a-router', management_ip: '10.77.0.1', organization: org(1) }),
  fakeDevice(2, { name: 'a-switch', management_ip: '10.77.0.2', organization: org(1) }),
  fakeDevice(3, { name: 'b-router', management_ip: '10.77.0.1', organization: org(2) }),
  fakeDevice(4, { name: 'b-switch', management_ip: '10.77.0.2', organization: org(2) }),
  fakeDevice(5, { name: 'core', management_ip: '10.77.0.3', organization: org(3) }),
].map((d) => ({ ...d, hostname: d.management_ip as string, snmp_community: COMMUNITY }));
const ROUTING: ConfigOverrides = {
  routing: {
    rules: [
      { match: { organization: [1], type: [] }, groups: ['a'] },
      { match: { organization: [2], type: [] }, groups: ['b'] },
      { match: { organization: [3], type: [] }, groups: ['a', 'b'], quorum: 2 },
    ],
  },
};

let redis: ThrowAwayRedis;
let client: Redis;
let inventory: InventoryServer;
const sites: Record<'a' | 'b', Site> = {} as Record<'a' | 'b', Site>;
const workers: Partial<Record<'a' | 'b', DaemonProcess>> = {};
const startSiteWorker: Partial<Record<'a' | 'b', () => DaemonProcess>> = {};
let scheduler: DaemonProcess;
let restarted: DaemonProcess | undefined;
let schedulerPort = 0;

const patchesOf = (id: number) => inventory.patches.filter((p) => p.id === id).map((p) => p.body);
const series = async (id: number) => JSON.parse((await client.hget(redisKeys.deviceSeries(PREFIX), String(id))) ?? 'null') as { s: 0 | 1; up?: number; g?: Record<string, number> } | null;
/** Three sweeps from now: enough for a check from every live site and a flip's PATCH. */
const threeSweeps = async () => {
  const sweeps = () => scheduler.logs.filter((l) => l.msg === 'sweep done').length;
  const target = sweeps() + 3;
  await waitFor('three more sweeps', () => sweeps() >= target, 20_000);
};

beforeAll(async () => {
  if (!canCreateSites) return;
  redis = await startRedis();
  client = new Redis(redis.url);
  inventory = await startInventoryServer({ token: TOKEN, devices: DEVICES });
  for (const [i, name] of (['a', 'b'] as const).entries()) {
    const site = createSite(name, i + 1, '10.77.0.254/24', ['10.77.0.1', '10.77.0.2', '10.77.0.3']);
    sites[name] = site;
    await site.startAgents(['10.77.0.1', '10.77.0.2', '10.77.0.3'], COMMUNITY, TICKS[name]);
    const redisPort = await site.relay(redis.port);
    const yaml = daemonYaml({ inventoryUrl: '', prefix: PREFIX, snmpPort: 161 }, { inventory: { url: undefined }, metrics: { host: site.siteAddress }, worker: { report: false } });
    const config = writeConfig(yaml);
    const env = { REDIS_URL: `redis://${site.hostAddress}:${redisPort}`, METRICS_PORT: '9464', WORKER_GROUPS: name, SNMP_COMMUNITY: COMMUNITY };
    startSiteWorker[name] = () => startDaemon(['run', '--role', 'worker', '--config', config], env, ['ip', 'netns', 'exec', site.netns]);
    workers[name] = startSiteWorker[name]();
    await waitFor(`site ${name}'s worker to be ready`, () => fetch(`http://${site.siteAddress}:9464/readyz`).then((r) => r.ok, () => false), 30_000);
  }
  schedulerPort = await freePort();
  const config = writeConfig(daemonYaml({ inventoryUrl: inventory.url, prefix: PREFIX, snmpPort: 161 }, ROUTING));
  scheduler = startDaemon(['run', '--role', 'all', '--config', config], { INVENTORY_TOKEN: TOKEN, REDIS_URL: redis.url, METRICS_PORT: String(schedulerPort), SNMP_COMMUNITY: COMMUNITY });
}, 90_000);

afterAll(async () => {
  await Promise.all([scheduler, workers.a, workers.b, restarted].map((d) => d?.stop('SIGKILL')));
  await Promise.all(Object.values(sites).map((s) => s.remove()));
  client?.disconnect();
  await inventory?.close();
  await redis?.stop();
});

describe.skipIf(!canCreateSites)('multi-site: two sites with the same addresses, a worker in each (network namespaces; needs root)', () => {
  it('probes each device only from its own site, judged by that site\'s network', async () => {
    await waitFor('every device checked', async () => (await client.hlen(redisKeys.deviceSeries(PREFIX))) === 5, 30_000);
    // sysUpTime tells which network's agent answered: a's agents count from 10,000 s, b's from 50,000 s.
    const uptime = async (id: number) => (await series(id))?.up ?? 0;
    for (const id of [1, 2]) expect(Math.floor((await uptime(id)) / 1000)).toBe(10);
    for (const id of [3, 4]) expect(Math.floor((await uptime(id)) / 1000)).toBe(50);
    // The workers stamp what they check: site a's group holds only a's devices and the shared one.
    expect((await client.hkeys(redisKeys.groupLastCheck(PREFIX, 'a'))).sort()).toEqual(['1', '2', '5']);
    expect((await client.hkeys(redisKeys.groupLastCheck(PREFIX, 'b'))).sort()).toEqual(['3', '4', '5']);
    expect(await client.exists(redisKeys.groupLastCheck(PREFIX, 'default'))).toBe(0);
    expect(inventory.patches).toEqual([]);
  }, 60_000);

  it('a device going silent in site a flips only site a\'s device, not site b\'s device at the same address', async () => {
    sites.a.setReachable('10.77.0.1', false);
    await waitFor('device 1 PATCHed Down', () => patchesOf(1).length > 0, 20_000);
    await threeSweeps();
    expect(patchesOf(1)).toEqual([{ status: false }]);
    expect(patchesOf(3)).toEqual([]);
    expect((await series(3))?.s).toBe(1);
  }, 60_000);

  it('the quorum device blocked from one site only stays Up; blocked from both it flips once', async () => {
    sites.a.setReachable('10.77.0.3', false);
    await waitFor('site a to hold the core router Down', async () => (await series(5))?.g?.a === 0, 20_000);
    await threeSweeps();
    expect(patchesOf(5)).toEqual([]);
    expect(await series(5)).toMatchObject({ s: 1, g: { a: 0, b: 1 } });
    const page = await (await fetch(`http://127.0.0.1:${schedulerPort}/`)).text();
    expect(page).toMatch(/id="split"[\s\S]*core[\s\S]*a down, b up/);
    // The metrics leader (any of the three processes) exports each group's verdict per device.
    const exposition = () => Promise.all([`127.0.0.1:${schedulerPort}`, `${sites.a.siteAddress}:9464`, `${sites.b.siteAddress}:9464`].map((at) => fetch(`http://${at}/metrics`).then((r) => r.text(), () => '')));
    await waitFor('the split votes exported', async () => /inventory_prober_device_group_up\{device_id="5",[^}]*group="a"\} 0/.test((await exposition()).join('\n')), 10_000);
    expect((await exposition()).join('\n')).toMatch(/inventory_prober_device_group_up\{device_id="5",[^}]*group="b"\} 1/);

    sites.b.setReachable('10.77.0.3', false);
    await waitFor('device 5 PATCHed Down', () => patchesOf(5).length > 0, 20_000);
    await threeSweeps();
    expect(patchesOf(5)).toEqual([{ status: false }]);
    const flipped = [...(workers.a?.logs ?? []), ...(workers.b?.logs ?? [])].filter((l) => l.msg === 'device flipped' && l.deviceId === 5);
    expect(flipped).toHaveLength(1);
    expect(flipped[0]).toMatchObject({ from: 'up', to: 'down', groups: { a: 'down', b: 'down' } });
  }, 60_000);

  it('site b\'s worker stopped: b\'s devices are not probed, never flipped, shown as not probed, and the group alert\'s expression holds', async () => {
    await workers.b?.stop('SIGTERM');
    // Had anyone probed it, this would flip device 4 Down.
    sites.b.setReachable('10.77.0.2', false);
    const notProbed = (group: string) => metricValue(schedulerPort, 'inventory_prober_group_devices_not_probed', { group });
    await waitFor('group b counted as not probed', async () => (await notProbed('b')) === 3, 20_000);
    await threeSweeps();
    expect(patchesOf(3)).toEqual([]);
    expect(patchesOf(4)).toEqual([]);
    // InventoryProberGroupNotProbed: not_probed > 0 and not_probed >= devices, for b only.
    const devices = (group: string) => metricValue(schedulerPort, 'inventory_prober_group_devices', { group });
    expect(await notProbed('b')).toBe(3);
    expect(await devices('b')).toBe(3);
    expect(await notProbed('a')).toBe(0);
    expect(await devices('a')).toBe(3);
    // The rule itself, evaluated by promtool against this /metrics: it fires for group b alone.
    if (hasPromtool) {
      const evaluated = alertFires(await (await fetch(`http://127.0.0.1:${schedulerPort}/metrics`)).text(), 'InventoryProberGroupNotProbed', { group: 'b' });
      expect(evaluated.fires, evaluated.output).toBe(true);
    }
    // Queued but untaken work for b.
    const queued = (await metricValue(schedulerPort, 'inventory_prober_queue_jobs', { queue: 'probe-b', state: 'waiting' })) + (await metricValue(schedulerPort, 'inventory_prober_queue_jobs', { queue: 'probe-b', state: 'delayed' }));
    expect(queued).toBeGreaterThan(0);
    const page = await (await fetch(`http://127.0.0.1:${schedulerPort}/`)).text();
    expect(page).toMatch(/<tr data-group="b"><td>b<\/td><td>3<\/td><td>3<\/td><td>not probed: no worker took its work<\/td><td>[^<]*b-router/);
    expect(page).toMatch(/id="count-not-probed"><b>3<\/b>/);
  }, 60_000);

  it('site b\'s worker back: its devices are probed again from the next cycles, and the silent one flips once', async () => {
    restarted = startSiteWorker.b?.();
    await waitFor('device 4 PATCHed Down', () => patchesOf(4).length > 0, 30_000);
    await waitFor('group b probed again', async () => (await metricValue(schedulerPort, 'inventory_prober_group_devices_not_probed', { group: 'b' })) === 0, 20_000);
    await threeSweeps();
    expect(patchesOf(4)).toEqual([{ status: false }]);
    expect(patchesOf(3)).toEqual([]);
    expect(Math.floor(((await series(3))?.up ?? 0) / 1000)).toBe(50);
  }, 60_000);
});
