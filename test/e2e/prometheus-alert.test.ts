import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { SnmpAgent } from '../support/snmp-agent.js';
import { freePort } from '../support/redis-server.js';
import { metricValue, waitFor } from '../support/daemon.js';
import { startStack, type Stack } from '../support/fleet.js';

/**
 * The shipped alert rules, evaluated by a real Prometheus (Debian package `prometheus`) that
 * scrapes the built daemon: proves the rules match what the daemon really exports, not only the
 * hand-written series of alerts.test.yaml.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'e2e-prom-token-3c2d';
const COMMUNITY = 'e2e-prom-community-8e1f';
// Apart from flip-to-patch's 127.0.10.x, so the two files can run side by side.
const ADDRESSES = ['127.0.11.1', '127.0.11.2', '127.0.11.3'];
const DOWN_ID = '2';

interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
}

let stack: Stack;
let agents: SnmpAgent[] = [];
let prometheus: ChildProcess | undefined;
let promExited: Promise<unknown> | undefined;
let promOutput = '';
let promUrl: string;
let workDir: string;

/**
 * A copy of alerts.yaml with InventoryDeviceDown's `for` cut from 1m to 2s so the test takes
 * seconds, not minutes. Every expression and annotation stays exactly as shipped.
 */
function rulesForTest(): string {
  const doc = parse(readFileSync(join(root, 'deploy/prometheus/alerts.yaml'), 'utf8')) as { groups: { rules: { alert?: string; for?: string }[] }[] };
  const rule = doc.groups.flatMap((g) => g.rules).find((r) => r.alert === 'InventoryDeviceDown');
  if (!rule) throw new Error('alerts.yaml has no InventoryDeviceDown rule');
  rule.for = '2s';
  return stringify(doc);
}

/** Scrapes only the daemon on loopback; no alertmanager, no remote write: no other traffic. */
function prometheusConfig(metricsPort: number): string {
  return stringify({
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: [join(workDir, 'alerts.yaml')],
    scrape_configs: [{ job_name: 'inventory-prober', static_configs: [{ targets: [`127.0.0.1:${metricsPort}`] }] }],
  });
}

async function startPrometheus(metricsPort: number): Promise<void> {
  writeFileSync(join(workDir, 'alerts.yaml'), rulesForTest());
  writeFileSync(join(workDir, 'prometheus.yml'), prometheusConfig(metricsPort));
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  const child = spawn(
    'prometheus',
    [`--config.file=${join(workDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(workDir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus = child;
  promExited = new Promise((res) => child.once('exit', res));
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (promOutput += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (promOutput += s));
  child.once('error', (err) => (promOutput += `\nspawn prometheus failed (apt-get install prometheus): ${err.message}`));
  await waitFor('Prometheus to be ready', async () => {
    if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}:\n${promOutput}`);
    return (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok;
  });
}

async function stopPrometheus(): Promise<void> {
  const child = prometheus;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await promExited;
  clearTimeout(killer);
}

async function alerts(): Promise<PromAlert[]> {
  const body = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as { data: { alerts: PromAlert[] } };
  return body.data.alerts;
}

const deviceDown = (all: PromAlert[]) => all.filter((a) => a.labels.alertname === 'InventoryDeviceDown' && a.labels.device_id === DOWN_ID);

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'ip-prometheus-'));
  stack = await startStack({ token: TOKEN, community: COMMUNITY, addresses: ADDRESSES, prefix: 'e2e-prom' });
  agents = stack.agents;
  const { metricsPort } = stack;
  await waitFor('the daemon to check every device twice', async () => (await metricValue(metricsPort, 'inventory_prober_checks_total').catch(() => 0)) >= 6);
  await startPrometheus(metricsPort);
}, 60_000);

afterAll(async () => {
  await stopPrometheus();
  await stack?.stop('SIGTERM');
  if (workDir) rmSync(workDir, { recursive: true, force: true });
}, 30_000);

describe('end to end: real Prometheus evaluating the shipped alert rules against the built daemon', () => {
  it('loads every rule of alerts.yaml without error', async () => {
    const body = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
    const loaded = body.data.groups.flatMap((g) => g.rules);
    expect(loaded.length).toBeGreaterThanOrEqual(10);
    expect(loaded.filter((r) => r.health === 'err')).toEqual([]);
  });

  it('fires InventoryDeviceDown for a device that stops answering, naming it and the failed probe', async () => {
    agents[1]?.setResponding(false);
    const alert = await waitFor('InventoryDeviceDown to fire for device 2', async () => deviceDown(await alerts()).find((a) => a.state === 'firing'), 90_000);
    expect(alert.labels).toMatchObject({ device_id: DOWN_ID, device: 'device-2', organization: 'Headquarters Network', severity: 'warning' });
    expect(alert.annotations.summary).toBe('Device device-2 (Headquarters Network) is down');
    // The agent is silent but 127.0.11.2 still answers ping: the reason lookup must say snmp.
    expect(alert.annotations.description).toContain('Failed probes: snmp ');
  }, 120_000);

  // Polled rather than read once: a scrape lost on a loaded machine makes absent() pending for
  // a moment, which is right. A rule that misreads real data stays pending and fails this.
  it('raises no other alert about a healthy prober, not even a pending one', async () => {
    let others: string[] = [];
    await waitFor('no other alert to be pending or firing', async () => {
      others = (await alerts()).filter((a) => deviceDown([a]).length === 0).map((a) => `${a.labels.alertname} ${a.state}`);
      return others.length === 0;
    }).catch(() => undefined);
    expect(others).toEqual([]);
  });

  it('resolves InventoryDeviceDown once the device answers again', async () => {
    agents[1]?.setResponding(true);
    await waitFor('InventoryDeviceDown for device 2 to resolve', async () => deviceDown(await alerts()).length === 0, 90_000);
    expect(deviceDown(await alerts())).toEqual([]);
  }, 120_000);
});
