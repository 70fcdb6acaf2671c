import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml, loopbackAddresses, runDaemon, startFleet, type Fleet } from '../support/fleet.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';

const TOKEN = 'series-token-4d2a';
const COMMUNITY = 'series-community-9e1f';
const ADDRESSES = loopbackAddresses(50, 4);

let redis: ThrowAwayRedis;
let fleet: Fleet;
const daemons: { proc: DaemonProcess; port: number }[] = [];

beforeAll(async () => {
  redis = await startRedis();
  fleet = await startFleet({ token: TOKEN, community: COMMUNITY, addresses: ADDRESSES });
  const site = { inventoryUrl: fleet.inventory.url, prefix: 'series', snmpPort: fleet.snmpPort };
  const config = writeConfig(daemonYaml(site, { metrics: { per_device: 'basic' } }));
  for (let i = 0; i < 2; i++) {
    const { daemon, metricsPort } = await runDaemon(config, { token: TOKEN, redisUrl: redis.url });
    daemons.push({ proc: daemon, port: metricsPort });
  }
  await waitFor('per-device series for every device', async () => (await seriesByDevice()).size === ADDRESSES.length, 30_000);
}, 60_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.proc.stop('SIGKILL')));
  await fleet?.close();
  await redis?.stop();
});

/** What Prometheus would see scraping every replica: device_id → the values of its device_up series. */
async function seriesByDevice(): Promise<Map<string, number[]>> {
  const seen = new Map<string, number[]>();
  for (const { proc, port } of daemons) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) continue;
    const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
    for (const m of text.matchAll(/^inventory_prober_device_up\{device_id="(\d+)"[^}]*\} (\S+)$/gm)) {
      seen.set(m[1] as string, [...(seen.get(m[1] as string) ?? []), Number(m[2])]);
    }
  }
  return seen;
}

const leaders = async () => {
  const live = daemons.filter((d) => d.proc.child.exitCode === null && d.proc.child.signalCode === null);
  const flags = await Promise.all(live.map((d) => metricValue(d.port, 'inventory_prober_metrics_leader').catch(() => 0)));
  return live.filter((_, i) => flags[i] === 1);
};

const sweepsDone = () => daemons.reduce((n, d) => n + d.proc.logs.filter((l) => l.msg === 'sweep done').length, 0);

describe('per-device series with several replicas', () => {
  it('Prometheus scraping every replica sees exactly one device_up series per device', async () => {
    expect(await leaders()).toHaveLength(1);
    for (const values of (await seriesByDevice()).values()) expect(values).toHaveLength(1);
  });

  it('/metrics?per_device=off leaves the fleet out, for a frequent scrape job beside a slower per-device one', async () => {
    const [leader] = await leaders();
    const port = leader?.port as number;
    const full = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
    const lean = await fetch(`http://127.0.0.1:${port}/metrics?per_device=off`).then((r) => r.text());
    expect(full).toMatch(/^inventory_prober_device_up\{/m);
    expect(full).toMatch(/^inventory_prober_devices\{status="up"\}/m);
    expect(lean).not.toMatch(/^inventory_prober_device_up\{/m);
    expect(lean).not.toMatch(/^inventory_prober_devices\{/m);
    expect(lean).toMatch(/^inventory_prober_checks_total/m);
    expect(lean).toMatch(/^inventory_prober_metrics_leader 1$/m);
    const bad = await fetch(`http://127.0.0.1:${port}/metrics?per_device=basic`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('per_device');
  });

  it('a device going down shows as one series with value 0, not a conflicting pair', async () => {
    fleet.agents[1]?.setResponding(false);
    await waitFor('device 2 down in /metrics', async () => (await seriesByDevice()).get('2')?.[0] === 0, 30_000);
    expect((await seriesByDevice()).get('2')).toEqual([0]);
  });

  it('a device removed from the inventory disappears from /metrics at the end of the next complete sweep', async () => {
    const before = sweepsDone();
    fleet.inventory.devices.splice(fleet.inventory.devices.findIndex((d) => d.id === 4), 1);
    await waitFor('device 4 gone from /metrics', async () => !(await seriesByDevice()).has('4'), 30_000);
    // The sweep running at removal time may have listed it already; the one after cannot have.
    expect(sweepsDone() - before).toBeLessThanOrEqual(3);
  });

  it('when the leader stops, another replica takes over and still exports one series per device', async () => {
    const [leader] = await leaders();
    await leader?.proc.stop('SIGTERM');
    await waitFor('a new leader', async () => (await leaders()).length === 1, 30_000);
    await waitFor('series from the new leader', async () => (await seriesByDevice()).size === 3, 30_000);
    for (const values of (await seriesByDevice()).values()) expect(values).toHaveLength(1);
  }, 60_000);
});
