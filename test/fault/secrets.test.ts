import { execFile } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeDevice, startInventoryServer, type InventoryServer } from '../support/inventory-server.js';
import type { SnmpAgent } from '../support/snmp-agent.js';
import { freePort, startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { CLI, metricValue, startDaemon, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml, startAgents, type AgentOptions, type SnmpOverrides } from '../support/fleet.js';

/**
 * With LOG_LEVEL=trace and a cycle full of failures (a device down, inventory 500s, a redirect,
 * a wrong SNMPv3 key), no secret reaches stdout/stderr, /metrics, the status page or
 * `check-config`; the token travels only in the Authorization header, only to the configured origin.
 */

const TOKEN = 'tok-SECRET-47-a1b2c3d4';
const COMMUNITY = 'comm-SECRET-47-e5f6';
const DEVICE_COMMUNITY = 'devcomm-SECRET-47-0a9b';
const AUTH_KEY = 'auth-SECRET-47-right';
const PRIV_KEY = 'priv-SECRET-47-right';
const WRONG_AUTH_KEY = 'auth-SECRET-47-wrong';
const SECRETS = [TOKEN, COMMUNITY, DEVICE_COMMUNITY, AUTH_KEY, PRIV_KEY, WRONG_AUTH_KEY];
const V3 = { name: 'prober47', authProtocol: 'sha', privProtocol: 'aes' } as const;

interface Recorder {
  url: string;
  requests: { url: string; authorization: string | undefined }[];
  /** When set, every request is answered 302 to this origin instead of being passed on. */
  redirectTo?: string;
  close(): Promise<void>;
}

/** A loopback HTTP server that records each request, then relays it to `upstream` (or redirects, or answers 404). */
async function startRecorder(upstream?: string): Promise<Recorder> {
  const rec: Recorder = { url: '', requests: [], close: async () => {} };
  const server: Server = createServer((req, res) => {
    rec.requests.push({ url: req.url ?? '', authorization: req.headers.authorization });
    if (rec.redirectTo || !upstream) {
      res.writeHead(rec.redirectTo ? 302 : 404, rec.redirectTo ? { location: `${rec.redirectTo}${req.url ?? '/'}` } : {});
      res.end();
      return;
    }
    const target = new URL(upstream);
    const relay = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    relay.on('error', () => res.destroy());
    req.pipe(relay);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  rec.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  rec.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return rec;
}

let redis: ThrowAwayRedis;
let inventory: InventoryServer;
let front: Recorder;
let elsewhere: Recorder;
let agents: SnmpAgent[] = [];
const daemons: DaemonProcess[] = [];
/** Every text the prober produced, labelled by where it came from. */
const outputs: { where: string; text: string }[] = [];

const fetchText = async (port: number, path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).text();

async function collectHttp(name: string, port: number): Promise<void> {
  outputs.push({ where: `${name} /metrics`, text: await fetchText(port, '/metrics') });
  outputs.push({ where: `${name} /`, text: await fetchText(port, '/') });
}

async function checkConfig(config: string, env: Record<string, string>): Promise<void> {
  const run = await promisify(execFile)(process.execPath, [CLI, 'check-config', '--config', config], { env: { PATH: process.env.PATH ?? '', ...env } });
  outputs.push({ where: `check-config ${config}`, text: run.stdout + run.stderr });
}

function yamlFor(inventoryUrl: string, prefix: string, snmpPort: number, snmp: SnmpOverrides = {}): string {
  return daemonYaml(
    { inventoryUrl, prefix, snmpPort },
    { inventory: { retries: 1 }, probes: { snmp }, reporter: { backoff_ms: 200, max_backoff_ms: 1000 } },
  );
}

/** v2c: a device goes down, the inventory answers 500, then redirects elsewhere. */
async function runV2cCycle(snmpPort: number): Promise<void> {
  const metricsPort = await freePort();
  const config = writeConfig(yamlFor(`${front.url}/api/v1`, 'fault-secrets-v2', snmpPort));
  const env = { INVENTORY_TOKEN: TOKEN, SNMP_COMMUNITY: COMMUNITY, REDIS_URL: redis.url, METRICS_PORT: String(metricsPort), LOG_LEVEL: 'trace' };
  const daemon = startDaemon(['run', '--config', config], env);
  daemons.push(daemon);
  const sweeps = (result: string) => metricValue(metricsPort, 'inventory_prober_sweeps_total', { result }).catch(() => 0);
  await waitFor('a first good sweep', async () => (await sweeps('ok')) >= 1, 60_000);

  agents[1]?.setResponding(false);
  await waitFor('device 2 PATCHed down', () => inventory.patches.some((p) => p.id === 2), 30_000);

  let failed = await sweeps('failed');
  inventory.setFault({ kind: 'status', code: 500, path: 'inventory_device/?' });
  await waitFor('a sweep failed on 500', async () => (await sweeps('failed')) > failed, 30_000);
  inventory.setFault(null);

  failed = await sweeps('failed');
  front.redirectTo = elsewhere.url;
  await waitFor('a sweep failed on the redirect', async () => (await sweeps('failed')) > failed && daemon.logs.some((l) => l.kind === 'redirect'), 30_000);
  front.redirectTo = undefined;
  const ok = await sweeps('ok');
  await waitFor('a good sweep after the redirect', async () => (await sweeps('ok')) > ok, 30_000);

  await collectHttp('v2c', metricsPort);
  await checkConfig(config, env);
}

/** v3: the prober's auth key is not the one device 4's agent holds. */
async function runV3Cycle(snmpPort: number): Promise<void> {
  const metricsPort = await freePort();
  const snmp = { version: '3', v3: { user: V3.name, auth_protocol: 'sha', priv_protocol: 'aes' } } as const;
  const config = writeConfig(yamlFor(inventory.url, 'fault-secrets-v3', snmpPort, snmp));
  const env = { INVENTORY_TOKEN: TOKEN, SNMP_COMMUNITY: COMMUNITY, SNMP_V3_AUTH_KEY: WRONG_AUTH_KEY, SNMP_V3_PRIV_KEY: PRIV_KEY, REDIS_URL: redis.url, METRICS_PORT: String(metricsPort), LOG_LEVEL: 'trace' };
  const daemon = startDaemon(['run', '--config', config], env);
  daemons.push(daemon);
  await waitFor('device 4 PATCHed down (wrong v3 key)', () => inventory.patches.some((p) => p.id === 4), 60_000);
  await collectHttp('v3', metricsPort);
  await checkConfig(config, env);
}

beforeAll(async () => {
  redis = await startRedis();
  const agentOptions: AgentOptions[] = [
    { community: DEVICE_COMMUNITY },
    { community: DEVICE_COMMUNITY },
    { community: COMMUNITY },
    { v3User: { ...V3, authKey: AUTH_KEY, privKey: PRIV_KEY } },
  ];
  agents = await startAgents(['127.0.47.1', '127.0.47.2', '127.0.47.3', '127.0.47.4'], (_, i) => agentOptions[i] as AgentOptions);
  const snmpPort = (agents[0] as SnmpAgent).port;
  inventory = await startInventoryServer({
    token: TOKEN,
    devices: [
      fakeDevice(1, { hostname: '127.0.47.1', management_ip: '127.0.47.1', snmp_community: DEVICE_COMMUNITY }),
      fakeDevice(2, { hostname: '127.0.47.2', management_ip: '127.0.47.2', snmp_community: DEVICE_COMMUNITY }),
      fakeDevice(3, { hostname: '127.0.47.3', management_ip: '127.0.47.3' }),
    ],
  });
  front = await startRecorder(new URL(inventory.url).origin);
  elsewhere = await startRecorder();
  await runV2cCycle(snmpPort);
  for (const d of daemons) await d.stop('SIGKILL');
  // The v3 run probes only device 4; the v2c fleet leaves the listing.
  inventory.devices.splice(0, inventory.devices.length, fakeDevice(4, { hostname: '127.0.47.4', management_ip: '127.0.47.4' }));
  await runV3Cycle(snmpPort);
  for (const d of daemons) await d.stop('SIGKILL');
  for (const d of daemons) outputs.push({ where: 'daemon stdout', text: d.raw() }, { where: 'daemon stderr', text: d.stderr.join('') });
}, 150_000);

afterAll(async () => {
  for (const d of daemons) await d.stop('SIGKILL');
  await Promise.all(agents.map((a) => a.close()));
  await front?.close();
  await elsewhere?.close();
  await inventory?.close();
  await redis?.stop();
});

describe('secrets never leak', () => {
  it('the failures really happened, at trace level', () => {
    const logs = daemons.flatMap((d) => d.logs);
    expect(logs.some((l) => l.level === 'trace' || l.level === 'debug')).toBe(true);
    expect(logs.some((l) => l.msg === 'device flipped' && l.deviceId === 2 && l.to === 'down')).toBe(true);
    expect(logs.some((l) => l.msg === 'device flipped' && l.deviceId === 4 && l.to === 'down')).toBe(true);
    expect(logs.some((l) => l.kind === 'server_error')).toBe(true);
    expect(logs.some((l) => l.kind === 'redirect')).toBe(true);
    expect(outputs.map((o) => o.where)).toEqual(expect.arrayContaining(['v2c /metrics', 'v2c /', 'v3 /metrics', 'v3 /', 'daemon stdout']));
  });

  it('no token, community or v3 key in stdout/stderr, /metrics, the status page or check-config', () => {
    const leaks = outputs.flatMap((o) => SECRETS.filter((s) => o.text.includes(s)).map((s) => `${o.where} holds ${s}`));
    expect(leaks).toEqual([]);
    expect(outputs.filter((o) => o.where.startsWith('check-config')).every((o) => o.text.includes('<secret>'))).toBe(true);
  });

  it('sends the token only as "Authorization: Bearer", never in a URL', () => {
    const seen = [...front.requests, ...inventory.log.map((r) => ({ url: r.url, authorization: r.authorization }))];
    expect(seen.length).toBeGreaterThan(0);
    for (const r of seen) {
      expect(r.authorization).toBe(`Bearer ${TOKEN}`);
      expect(r.url).not.toContain(TOKEN);
    }
  });

  it('never follows a redirect to another origin, so that origin never sees the token', () => {
    expect(front.requests.length).toBeGreaterThan(0);
    expect(elsewhere.requests.filter((r) => r.authorization?.includes(TOKEN) || r.url.includes(TOKEN))).toEqual([]);
  });
});
