/**
 * Soak: the built daemon (dist/cli.js) runs for SOAK_MINUTES (default 20) against a throw-away
 * Redis, the test inventory with SOAK_DEVICES (default 200) devices on 127.0.200.x and 127.0.201.x,
 * one real SNMP agent per device, and a loop of faults: inventory 500s, a Redis restart, agents
 * going silent and coming back. Every minute (and at start and end) it prints the daemon's RSS,
 * heap used, open fds, active handles, and Redis used_memory and key count, so growth shows.
 * Prints figures; asserts nothing.
 *
 *   npm run build && npx tsc -p tsconfig.bench.json && SOAK_MINUTES=20 node dist-bench/bench/soak.js
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { startInventoryServer, type FakeDevice, type InventoryServer } from '../src/demo/inventory-server.js';
import { freePort, startRedis, type ThrowAwayRedis } from '../src/demo/redis-server.js';
import { startSnmpAgent, type SnmpAgent } from '../src/demo/snmp-agent.js';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 20);
const DEVICES = Math.min(Number(process.env.SOAK_DEVICES ?? 200), 500);
const FAULT_EVERY_MS = 20_000;
const CLI = resolve(import.meta.dirname, '../../dist/cli.js');
const TOKEN = 'soak-token';
const COMMUNITY = 'soak-community';

const address = (i: number) => `127.0.${200 + Math.floor(i / 250)}.${(i % 250) + 1}`;

function device(i: number): FakeDevice {
  const ip = address(i);
  return {
    id: i + 1,
    name: `soak-${i + 1}`,
    hostname: ip,
    management_ip: ip,
    snmp_community: COMMUNITY,
    type: { id: 1, name: 'Router' },
    organization: { id: 1, name: 'Soak' },
    status: true,
    last_status_change: null,
    created_at: '2024-01-01T00:00:00Z',
    updated_at: '2024-01-01T00:00:00Z',
  };
}

/** The daemon's stdout, reduced to counts: a soak must not keep its own log in memory. */
interface LogCounts {
  lines: number;
  byMsg: Map<string, number>;
}

function spawnDaemon(configFile: string, redisUrl: string, metricsPort: number, counts: LogCounts): ChildProcess {
  const child = spawn(process.execPath, [CLI, 'run', '--config', configFile], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', INVENTORY_TOKEN: TOKEN, REDIS_URL: redisUrl, METRICS_PORT: String(metricsPort), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      counts.lines++;
      const msg = /"msg":"([^"]*)"/.exec(line)?.[1] ?? '(not json)';
      counts.byMsg.set(msg, (counts.byMsg.get(msg) ?? 0) + 1);
    }
  });
  return child;
}

async function scrape(port: number): Promise<Map<string, number>> {
  const values = new Map<string, number>();
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      // Both the bare name (summed over its series) and each full series, labels included.
      const series = line.slice(0, line.lastIndexOf(' '));
      const name = line.slice(0, line.search(/[ {]/));
      const value = Number(line.split(' ').pop());
      values.set(name, (values.get(name) ?? 0) + value);
      if (series !== name) values.set(series, value);
    }
  } catch {
    // The daemon may be between a Redis restart and its next answer; a gap prints as "-".
  }
  return values;
}

interface Sample {
  atMin: number;
  rssMb: number;
  heapMb: number;
  fds: number;
  handles: number;
  redisMb: number;
  redisKeys: number;
  sweepsOk: number;
  sweepsFailed: number;
  checks: number;
  flips: number;
  patches: number;
}

function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb ?? 0) / 1024;
}

async function sample(startMs: number, pid: number, metricsPort: number, redis: Redis, inventory: InventoryServer): Promise<Sample> {
  const m = await scrape(metricsPort);
  const get = (name: string) => m.get(`inventory_prober_${name}`) ?? NaN;
  const info = await redis.info('memory').catch(() => '');
  return {
    atMin: (Date.now() - startMs) / 60_000,
    rssMb: rssMb(pid),
    heapMb: get('nodejs_heap_size_used_bytes') / 2 ** 20,
    fds: readdirSync(`/proc/${pid}/fd`).length,
    handles: get('nodejs_active_handles_total'),
    redisMb: Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN) / 2 ** 20,
    redisKeys: await redis.dbsize().catch(() => NaN),
    sweepsOk: get('sweeps_total{result="ok"}'),
    sweepsFailed: get('sweeps_total{result="failed"}'),
    checks: get('checks_total'),
    flips: get('flips_total'),
    patches: inventory.patches.length,
  };
}

const HEADER = ' min   rss MB  heap MB  fds  handles  redis MB  keys  sweeps ok/failed   checks  flips  patches';
const fmt = (n: number, width: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-').padStart(width);
const row = (s: Sample) =>
  `${fmt(s.atMin, 4, 1)} ${fmt(s.rssMb, 8, 1)} ${fmt(s.heapMb, 8, 1)} ${fmt(s.fds, 4)} ${fmt(s.handles, 8)} ${fmt(s.redisMb, 9, 2)} ${fmt(s.redisKeys, 5)} ${fmt(s.sweepsOk, 9)}/${fmt(s.sweepsFailed, 6)} ${fmt(s.checks, 8)} ${fmt(s.flips, 6)} ${fmt(s.patches, 8)}`;

/** One fault per turn, in rotation; each undoes itself before the next begins. */
function faultLoop(inventory: InventoryServer, redis: ThrowAwayRedis, agents: SnmpAgent[], log: (s: string) => void): () => void {
  const faults: [string, () => Promise<void>][] = [
    ['inventory answers 500 for 5 s', async () => {
      inventory.setFault({ kind: 'status', code: 500, path: 'inventory_device/?' });
      await sleep(5_000);
      inventory.setFault(null);
    }],
    ['redis killed and restarted after 3 s', async () => {
      await redis.kill();
      await sleep(3_000);
      await redis.restart();
    }],
    ['10 agents silent for 12 s', async () => {
      const silent = pick(agents, 10);
      for (const a of silent) a.setResponding(false);
      await sleep(12_000);
      for (const a of silent) a.setResponding(true);
    }],
  ];
  let turn = 0;
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      await sleep(FAULT_EVERY_MS);
      if (stopped) return;
      const [name, inject] = faults[turn++ % faults.length] as [string, () => Promise<void>];
      log(`fault: ${name}`);
      await inject().catch((err: Error) => log(`fault "${name}" failed: ${err.message}`));
    }
  };
  void loop();
  return () => {
    stopped = true;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function pick<T>(items: T[], n: number): T[] {
  return [...items].sort(() => Math.random() - 0.5).slice(0, n);
}

async function main(): Promise<void> {
  const log = (s: string) => process.stdout.write(`${s}\n`);
  log(`soak: ${DEVICES} devices, ${MINUTES} min, a fault every ${FAULT_EVERY_MS / 1000} s`);
  const redis = await startRedis();
  const first = await startSnmpAgent({ address: address(0), port: 0, community: COMMUNITY });
  const agents = [first];
  for (let i = 1; i < DEVICES; i++) agents.push(await startSnmpAgent({ address: address(i), port: first.port, community: COMMUNITY }));
  const inventory = await startInventoryServer({ token: TOKEN, devices: Array.from({ length: DEVICES }, (_, i) => device(i)) });
  const metricsPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ip-soak-'));
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, `
inventory: { url: ${inventory.url} }
redis: { prefix: soak }
schedule: { interval_seconds: 5, spread: 0.8 }
probes:
  up_when: all
  icmp: { count: 1, timeout_ms: 500 }
  snmp: { version: "2c", port: ${first.port}, timeout_ms: 500, retries: 0 }
status: { down_after: 2, up_after: 1 }
metrics: { host: 127.0.0.1 }
`);
  const counts: LogCounts = { lines: 0, byMsg: new Map() };
  const daemon = spawnDaemon(configFile, redis.url, metricsPort, counts);
  const pid = daemon.pid as number;
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 500 });
  client.on('error', () => {});

  const startMs = Date.now();
  await sleep(10_000); // start-up and the first cycles: the baseline is a warm daemon
  log(HEADER);
  const first0 = await sample(startMs, pid, metricsPort, client, inventory);
  log(row(first0));
  const stopFaults = faultLoop(inventory, redis, agents, (s) => log(`      ${s}`));
  let last = first0;
  const endMs = startMs + MINUTES * 60_000;
  while (Date.now() < endMs && daemon.exitCode === null) {
    await sleep(Math.min(60_000, Math.max(0, endMs - Date.now())));
    last = await sample(startMs, pid, metricsPort, client, inventory);
    log(row(last));
  }
  stopFaults();
  if (daemon.exitCode !== null) log(`daemon exited early with code ${daemon.exitCode}`);

  log('\nstart → end');
  log(`  rss ${first0.rssMb.toFixed(1)} → ${last.rssMb.toFixed(1)} MB, heap ${first0.heapMb.toFixed(1)} → ${last.heapMb.toFixed(1)} MB, fds ${first0.fds} → ${last.fds}, handles ${first0.handles} → ${last.handles}`);
  log(`  redis ${first0.redisMb.toFixed(2)} → ${last.redisMb.toFixed(2)} MB, keys ${first0.redisKeys} → ${last.redisKeys}`);
  log(`  log lines ${counts.lines}; most frequent: ${[...counts.byMsg].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([m, n]) => `${n}× ${m}`).join('; ')}`);

  daemon.kill('SIGTERM');
  const code = await new Promise((r) => (daemon.exitCode !== null ? r(daemon.exitCode) : daemon.once('exit', r)));
  log(`daemon exit code after SIGTERM: ${String(code)}`);
  client.disconnect();
  await Promise.all(agents.map((a) => a.close()));
  await inventory.close();
  await redis.stop();
}

main().catch((err: Error) => {
  process.stderr.write(`soak failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
