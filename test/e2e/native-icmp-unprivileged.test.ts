import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asNobody, canBuildLab, createIcmpLab, LAB, type IcmpLab } from '../support/icmp-lab.js';

/**
 * The built daemon as the hardened deployments run it (systemd with an empty
 * CapabilityBoundingSet= and NoNewPrivileges=, Kubernetes restricted with drop ALL): uid 65534,
 * no_new_privs, no capability in any set, in a network namespace whose ping_group_range is open.
 * Its Redis and inventory run beside it in that namespace (stack.mjs, as root); the targets sit
 * behind the lab's router. Checks end to end: the start-up choice of engine and socket, the
 * verdicts (reachable, ICMP unreachable, silent; IPv4 and IPv6), the PATCHes, a clean exit.
 */
const DIST = resolve('dist');

const DEVICES = [
  { id: 1, address: LAB.v4.router, status: false }, // answers: PATCH true
  { id: 2, address: LAB.v6.router, status: true }, // answers: no PATCH
  { id: 3, address: LAB.v4.unreachable, status: true }, // ICMP host unreachable: PATCH false
  { id: 4, address: LAB.v6.unreachable, status: true }, // ICMPv6 no route: PATCH false
  { id: 5, address: LAB.v4.silent, status: true }, // no answer at all: PATCH false
];

// Runs in the lab's prober namespace as root: Redis and the inventory on its loopback, then the
// daemon as nobody (argv from the test); prints one JSON summary once every expected PATCH came.
const STACK = `
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
const { startRedis } = await import('${DIST}/demo/redis-server.js');
const { startInventoryServer } = await import('${DIST}/demo/inventory-server.js');
const { devices: wanted, dropPrivileges, configFile } = JSON.parse(process.argv[2]);
const devices = wanted.map((d) => ({
  id: d.id, name: 'device-' + d.id, hostname: d.address, management_ip: d.address, type: { id: 1, name: 'Router' },
  organization: { id: 1, name: 'Lab' }, status: d.status, last_status_change: null, created_at: '2024-01-10T14:20:00Z', updated_at: '2024-01-10T14:20:00Z',
}));
const redis = await startRedis();
const inventory = await startInventoryServer({ token: 'lab-token', devices });
writeFileSync(configFile, [
  'inventory: { url: "' + inventory.url + '" }',
  'redis: { prefix: lab }',
  'schedule: { interval_seconds: 1, spread: 0.5 }',
  'probes: { up_when: icmp, icmp: { count: 2, timeout_ms: 400 }, snmp: { enabled: false } }',
  'status: { down_after: 2, up_after: 1 }',
  'metrics: { host: 127.0.0.1, port: 0 }',
].join('\\n'), { mode: 0o644 });
const daemon = spawn(dropPrivileges[0], [...dropPrivileges.slice(1), process.execPath, '${DIST}/cli.js', 'run', '--config', configFile], {
  env: { PATH: process.env.PATH, INVENTORY_TOKEN: 'lab-token', REDIS_URL: redis.url }, stdio: ['ignore', 'pipe', 'pipe'],
});
let out = '', err = '';
daemon.stdout.setEncoding('utf8').on('data', (c) => (out += c));
daemon.stderr.setEncoding('utf8').on('data', (c) => (err += c));
const exited = new Promise((r) => daemon.once('exit', (code) => r(code)));
const expected = wanted.filter((d) => d.id !== 2).length;
const deadline = Date.now() + 45_000;
while (inventory.patches.length < expected && Date.now() < deadline && daemon.exitCode === null) await new Promise((r) => setTimeout(r, 200));
await new Promise((r) => setTimeout(r, 2000)); // a couple more cycles: nothing else may be PATCHed
daemon.kill('SIGTERM');
const exitCode = await exited;
console.log(JSON.stringify({ patches: inventory.patches.map((p) => ({ id: p.id, body: p.body })), exitCode, logs: out.split('\\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return { unparsed: l }; } }), stderr: err }));
await inventory.close();
await redis.stop();
`;

interface Summary {
  patches: { id: number; body: unknown }[];
  exitCode: number | null;
  logs: Record<string, unknown>[];
  stderr: string;
}

describe.skipIf(!canBuildLab())('the built daemon as uid 65534, no_new_privs, empty bounding set, ping_group_range open (needs root, ip, setpriv)', () => {
  let lab: IcmpLab;
  let dir = '';
  let summary: Summary;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ip-native-e2e-'));
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'stack.mjs'), STACK, { mode: 0o644 });
    lab = createIcmpLab('e2e');
    lab.pingGroupRange('0 2147483647');
    const dropPrivileges = asNobody(lab, []).slice(3); // setpriv and its options, without `netns exec <ns>`
    const ran = spawnSync('ip', ['netns', 'exec', lab.prober, process.execPath, join(dir, 'stack.mjs'), JSON.stringify({ devices: DEVICES, dropPrivileges, configFile: join(dir, 'config.yaml') })], {
      encoding: 'utf8',
      timeout: 90_000,
    });
    if (ran.status !== 0) throw new Error(`stack.mjs failed (${ran.status}): ${ran.stderr}`);
    summary = JSON.parse(ran.stdout) as Summary;
  }, 120_000);

  afterAll(() => {
    lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const log = (msg: string) => summary.logs.filter((l) => l.msg === msg);

  it('starts the native engine on an ICMP datagram socket and says why', () => {
    expect(summary.stderr).toBe('');
    const [ready] = log('ICMP engine ready');
    expect(ready).toMatchObject({ engine: 'native' });
    expect(String(ready?.sockets)).toMatch(/IPv4 datagram socket: net.ipv4.ping_group_range "0 2147483647" admits this process's groups \(65534\); CAP_NET_RAW not held/);
    expect(log('ICMP is not permitted')).toEqual([]);
  });

  it('PATCHes the answering device up, and the ICMP-unreachable and silent ones down, IPv4 and IPv6', () => {
    const sorted = [...summary.patches].sort((a, b) => a.id - b.id);
    expect(sorted).toEqual([
      { id: 1, body: { status: true } },
      { id: 3, body: { status: false } },
      { id: 4, body: { status: false } },
      { id: 5, body: { status: false } },
    ]);
  });

  it('logs each flip with the ICMP verdict behind it', () => {
    const reasonOf = (id: number) => String(log('device flipped').find((l) => l.deviceId === id)?.reason);
    expect(reasonOf(3)).toMatch(/unreachable.*host unreachable from 198\.18\.0\.2/);
    expect(reasonOf(4)).toMatch(/unreachable.*no route to destination from fd00:11::2/);
    expect(reasonOf(5)).toMatch(/no-reply/);
  });

  it('exits 0 on SIGTERM', () => {
    expect(summary.exitCode).toBe(0);
  });
});
