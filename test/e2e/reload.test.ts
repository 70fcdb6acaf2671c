import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeDevice, startInventoryServer, type InventoryServer } from '../support/inventory-server.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { metricValue, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { runDaemon } from '../support/fleet.js';

const TOKEN = 'reload-token-0b1c';
let redis: ThrowAwayRedis;
let inventory: InventoryServer;
let daemon: DaemonProcess;
let port: number;
let configFile: string;

const goodConfig = (downAfter: number) => `
inventory: { url: "${inventory.url}" }
redis: { prefix: reload }
schedule: { interval_seconds: 1 }
probes: { up_when: icmp, icmp: { count: 1, timeout_ms: 500 }, snmp: { enabled: false } }
status: { down_after: ${downAfter} }
metrics: { host: 127.0.0.1 }
`;

beforeAll(async () => {
  redis = await startRedis();
  inventory = await startInventoryServer({ token: TOKEN, devices: [fakeDevice(1, { hostname: '127.0.30.1' })] });
  configFile = writeConfig(goodConfig(3));
  ({ daemon, metricsPort: port } = await runDaemon(configFile, { token: TOKEN, redisUrl: redis.url }));
  await waitFor('first checks', async () => (await metricValue(port, 'inventory_prober_checks_total').catch(() => 0)) >= 1);
}, 60_000);

afterAll(async () => {
  await daemon?.stop('SIGKILL');
  await inventory?.close();
  await redis?.stop();
});

describe('config reload (SIGHUP and POST /-/reload)', () => {
  it('rejects a bad new config with its problems and keeps running on the old one', async () => {
    writeFileSync(configFile, goodConfig(3).replace('up_when: icmp', 'up_when: sometimes'));
    daemon.child.kill('SIGHUP');
    await waitFor('reload rejected log', () => daemon.logs.find((l) => l.msg === 'config reload rejected; the running configuration stays'));
    expect(await metricValue(port, 'inventory_prober_config_last_reload_successful')).toBe(0);
    const checks = await metricValue(port, 'inventory_prober_checks_total');
    await waitFor('checks to go on', async () => (await metricValue(port, 'inventory_prober_checks_total')) > checks + 1);
  });

  it('applies a good new config on POST /-/reload and reports success', async () => {
    writeFileSync(configFile, goodConfig(5));
    const res = await fetch(`http://127.0.0.1:${port}/-/reload`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(await metricValue(port, 'inventory_prober_config_last_reload_successful')).toBe(1);
    const checks = await metricValue(port, 'inventory_prober_checks_total');
    await waitFor('checks to go on after the roles restarted', async () => (await metricValue(port, 'inventory_prober_checks_total')) > checks + 1);
  });

  it('refuses on reload a setting bound to open connections, naming it', async () => {
    writeFileSync(configFile, goodConfig(5).replace('prefix: reload', 'prefix: other'));
    const res = await fetch(`http://127.0.0.1:${port}/-/reload`, { method: 'POST' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('redis.prefix');
  });
});
