/**
 * One pipeline benchmark run: a fleet of `fleetSize` devices, a fresh Redis and inventory, the
 * daemon as child processes, `warmupCycles` warm-up cycles and `cycles` measured ones, read at the quiet end
 * of each cycle (probes are spread over the first `spread` = 80% of it).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { startInventoryServer } from '../src/demo/inventory-server.js';
import { freePort, startRedis } from '../src/demo/redis-server.js';
import { buildFleet, PREFIX, seedDetails, silence, writeBenchConfig, type BenchSettings } from './pipeline-fleet.js';
import { checksPerCycle, cpuFigures, flipLatency, inventoryFigures, measuredSweeps, outcomeDelta, percentile, type Boundary, type RunFigures } from './pipeline-figures.js';
import { cpuOf, peakRssMb, scrape, spawnDaemon, stopChild, udpReceiveDrops, type DaemonHandle } from './pipeline-procs.js';

export interface RunOptions extends Omit<BenchSettings, 'inventoryUrl' | 'upWhen'> {
  fleetSize: number;
  inventoryLatencyMs: number;
  listRows: 'spec' | 'full';
  /** Nothing in the detail cache: the daemon fetches every device's detail. */
  coldStart: boolean;
  /** Worker processes beside one scheduler process; 0 = a single `--role all` process. */
  workers: number;
  cycles: number;
  /** Cycles run before the measured ones (JIT, first sweep, an empty Redis): 1 unless said. */
  warmupCycles: number;
  netns: boolean;
  agentPid: number;
  top: boolean;
  log: (line: string) => void;
  /** Registers a child that must die if the benchmark does. */
  track: (child: ChildProcess) => void;
}

const TOKEN = 'bench-token';
/** Prometheus' usual scrape interval: the event-loop p99 is a per-scrape window, as it would be in production. */
const LAG_SAMPLE_MS = 15_000;
const sleepUntil = (atMs: number) => new Promise((r) => setTimeout(r, Math.max(0, atMs - Date.now())));

export async function runPipeline(o: RunOptions): Promise<RunFigures> {
  const fleet = buildFleet(o.fleetSize, o.netns);
  const redis = await startRedis();
  o.track(redis.process);
  const daemons: DaemonHandle[] = [];
  const inventory = await startInventoryServer({ token: TOKEN, devices: fleet.devices, listRows: o.listRows, getLatencyMs: o.inventoryLatencyMs });
  const client = new Redis(redis.url);
  try {
    const memoryBefore = await usedMemoryBytes(client);
    if (o.listRows === 'spec' && !o.coldStart) await seedDetails(client, fleet.devices);
    const config = writeBenchConfig({ ...o, inventoryUrl: inventory.url, upWhen: o.netns ? 'all' : 'snmp' });
    const env = { INVENTORY_TOKEN: TOKEN, REDIS_URL: redis.url, LOG_LEVEL: 'info' };
    const I = o.intervalSeconds * 1000;
    // Start just after a cycle boundary, so the warm-up cycle is a whole one and not a burst of overdue probes.
    const c0 = Math.ceil(Date.now() / I) * I;
    const cache = o.listRows === 'full' ? 'no details needed' : o.coldStart ? 'detail cache empty' : 'details cached';
    o.log(`  fleet ${o.fleetSize} (${fleet.unreachable} unreachable, ${fleet.flipIds.length} to flip), ${cache}; daemons start at the next cycle boundary in ${((c0 - Date.now()) / 1000).toFixed(0)} s; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    await sleepUntil(c0 + 100);
    const roles = o.workers === 0 ? [['all', 'all']] : [['scheduler', 'scheduler'], ...Array.from({ length: o.workers }, (_, i) => [`worker${i + 1}`, 'worker'])];
    for (const [label, role] of roles as [string, string][]) {
      const d = spawnDaemon(label, role, config, env, await freePort());
      o.track(d.child);
      daemons.push(d);
    }
    const probing = daemons.filter((d) => d.label !== 'scheduler');
    const coverage = watchCoverage(client, o.fleetSize, c0);
    // Quiet end of cycle k: every probe of cycle k should be done, none of cycle k+1 has started.
    const quiet = Math.min(0.1 * I, 5_000);
    const readAt = (k: number) => c0 + k * I - quiet;
    const W = Math.max(1, o.warmupCycles);
    const silenceCycle = W + (o.cycles >= 2 ? 1 : 0);
    const lag = sampleLag(daemons, readAt(W), readAt(W + o.cycles));
    const boundaries: Boundary[] = [];
    for (let k = 1; k <= W + o.cycles; k++) {
      if (k === silenceCycle + 1) {
        // Just before cycle `silenceCycle` sweeps: the silenced devices' new detail is read by that sweep.
        await sleepUntil(c0 + silenceCycle * I - 2_000);
        silence(fleet, new Date().toISOString());
      }
      if (k === W + 1 && o.top) {
        // Mid-cycle, while probes run: which process saturates.
        await sleepUntil(c0 + (W + 0.4) * I);
        o.log(await topSnapshot());
      }
      await sleepUntil(readAt(k));
      if (k < W) {
        logWarmup(o, daemons, c0 + (k - 1) * I, k);
        continue;
      }
      boundaries.push(await readBoundary(probing, daemons, redis.process.pid as number, o.agentPid));
      logCycle(o, boundaries, daemons, c0 + (k - 1) * I, k);
      checkAlive(daemons);
    }
    const memoryAfter = await usedMemoryBytes(client);
    o.log(`  redis used_memory: ${mb(memoryBefore)} MB empty, ${mb(memoryAfter)} MB after the last cycle: ${Math.round((memoryAfter - memoryBefore) / o.fleetSize)} bytes per device`);
    const scrapeTiming = await timeLeaderScrape(daemons);
    const peak = new Map(daemons.map((d) => [d.label, peakRssMb(d.pid)]));
    const lagMax = await lag.stop();
    const first = boundaries[0] as Boundary;
    const last = boundaries[boundaries.length - 1] as Boundary;
    const perCycle = checksPerCycle(boundaries);
    const measured = perCycle.reduce((a, b) => a + b, 0);
    const cycleStarts = Array.from({ length: o.cycles }, (_, i) => c0 + (W + i) * I);
    const sweeps = measuredSweeps(daemons, cycleStarts);
    const cpu = cpuFigures(first, last, measured);
    const ends = await Promise.all(daemons.map((d) => scrape(d.metricsPort)));
    const skippedCycles = ends.reduce((n, s) => n + (s.values.get('inventory_prober_sweeps_total{result="skipped"}') ?? 0), 0);
    const latency = new Map(ends.flatMap((s) => [...s.values]).filter(([k]) => k.startsWith('inventory_prober_inventory_request_duration_seconds_')));
    const coverageText = coverage.stop();
    await Promise.all(daemons.map((d) => d.stop()));
    for (const d of daemons) for (const [msg, n] of d.problems) o.log(`    ${d.label} logged ${n}× ${msg}`);
    for (const d of daemons) {
      const top = [...d.lines].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([msg, n]) => `${n}× ${msg}`).join(', ');
      o.log(`    ${d.label} log lines: ${[...d.lines.values()].reduce((a, b) => a + b, 0)} (${top})`);
    }
    return {
      fleet: o.fleetSize,
      workers: o.workers,
      intervalSeconds: o.intervalSeconds,
      cycles: o.cycles,
      checksPerCycle: perCycle,
      alreadyPending: sweeps.map((s) => s.alreadyPending),
      sweepSeconds: sweeps.map((s) => s.durationMs / 1000),
      exactlyOnce: perCycle.every((n) => n === o.fleetSize) && sweeps.every((s) => s.alreadyPending === 0 && s.devices === o.fleetSize),
      probesPerSecond: measured / ((last.atMs - first.atMs) / 1000),
      ...cpu,
      perProcessCpuSeconds: cpu.perProcess,
      peakRssMb: peak,
      lagP99MaxMs: lagMax * 1000,
      flips: flipLatency(daemons, fleet.flipIds, inventory.patches),
      scrape: scrapeTiming,
      outcomesMeasured: outcomeDelta(first, last),
      udpDrops: last.udpDrops - first.udpDrops,
      skippedCycles,
      inventoryRequests: inventoryFigures(sweeps, latency),
      coverage: coverageText,
    };
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
    client.disconnect();
    await inventory.close();
    await stopChild(redis.process, 5_000);
    await redis.stop();
  }
}

/** INFO memory's used_memory: what Redis holds for us, allocator overhead included. */
async function usedMemoryBytes(client: Redis): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))?.[1] ?? NaN);
}
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

async function readBoundary(probing: DaemonHandle[], all: DaemonHandle[], redisPid: number, agentPid: number): Promise<Boundary> {
  const atMs = Date.now();
  // CPU first: /proc reads are instant, so the CPU window and the wall window line up.
  const cpu = new Map(all.map((d) => [d.label, cpuOf(d.pid)]));
  const redisCpu = cpuOf(redisPid);
  const agentCpu = cpuOf(agentPid);
  const benchCpu = cpuOf(process.pid);
  const checks = new Map<string, number>();
  const outcomes = new Map<string, number>();
  for (const d of probing) {
    const s = await scrape(d.metricsPort);
    checks.set(d.label, s.values.get('inventory_prober_checks_total') ?? NaN);
    for (const outcome of ['up', 'down', 'error']) {
      const key = `inventory_prober_checks_total{outcome="${outcome}"}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + (s.values.get(key) ?? 0));
    }
  }
  return { atMs, checks, outcomes, cpu, redisCpu, agentCpu, benchCpu, udpDrops: udpReceiveDrops() };
}

function logWarmup(o: RunOptions, daemons: DaemonHandle[], cycleStart: number, k: number): void {
  const sweep = daemons.flatMap((d) => d.sweeps).find((s) => s.cycle === cycleStart);
  o.log(`  warm-up cycle ${k}: ${sweep ? `sweep ${(sweep.durationMs / 1000).toFixed(1)} s, enqueued ${sweep.enqueued}, alreadyPending ${sweep.alreadyPending}` : 'no sweep logged'}; load average ${loadavg()[0]?.toFixed(2)}`);
}

function logCycle(o: RunOptions, boundaries: Boundary[], daemons: DaemonHandle[], cycleStart: number, k: number): void {
  const b = boundaries[boundaries.length - 1] as Boundary;
  const sweep = daemons.flatMap((d) => d.sweeps).find((s) => s.cycle === cycleStart);
  const sweepText = sweep
    ? `sweep ${(sweep.durationMs / 1000).toFixed(1)} s, enqueued ${sweep.enqueued}, alreadyPending ${sweep.alreadyPending}, awaiting detail ${sweep.awaitingDetail ?? '-'}, requests list/detail ${sweep.requests ? `${sweep.requests.list}/${sweep.requests.detail}` : '-'}`
    : 'no sweep logged';
  if (boundaries.length === 1) return o.log(`  warm-up cycle ${k}: ${sweepText}`);
  const checks = checksPerCycle(boundaries.slice(-2))[0] ?? NaN;
  const outcomes = [...b.outcomes].map(([k2, v]) => `${k2} ${v - ((boundaries[boundaries.length - 2] as Boundary).outcomes.get(k2) ?? 0)}`).join(', ');
  o.log(`  cycle ${boundaries.length - 1}: ${sweepText}; checks ${checks} (${outcomes}); load average ${loadavg()[0]?.toFixed(2)}`);
}

/** Samples every process's event-loop p99 every LAG_SAMPLE_MS inside the measured window; keeps the max. */
function sampleLag(daemons: DaemonHandle[], fromMs: number, untilMs: number): { stop(): Promise<number> } {
  let max = 0;
  let stopped = false;
  const loop = (async () => {
    await sleepUntil(fromMs);
    while (!stopped && Date.now() < untilMs) {
      for (const d of daemons) {
        const p99 = (await scrape(d.metricsPort)).values.get('inventory_prober_nodejs_eventloop_lag_p99_seconds');
        if (p99 !== undefined && Number.isFinite(p99)) max = Math.max(max, p99);
      }
      await new Promise((r) => setTimeout(r, LAG_SAMPLE_MS));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return max;
    },
  };
}

/** Median of three timed GET /metrics on the process exporting per-device series. */
async function timeLeaderScrape(daemons: DaemonHandle[]): Promise<{ ms: number; bytes: number }> {
  for (const d of daemons) {
    if ((await scrape(d.metricsPort)).values.get('inventory_prober_metrics_leader') !== 1) continue;
    const first = await scrape(d.metricsPort, { perDevice: true });
    const timings = [first.ms, (await scrape(d.metricsPort, { perDevice: true })).ms, (await scrape(d.metricsPort, { perDevice: true })).ms];
    return { ms: percentile(timings, 50), bytes: first.bytes };
  }
  return { ms: NaN, bytes: 0 };
}

function checkAlive(daemons: DaemonHandle[]): void {
  const dead = daemons.find((d) => d.child.exitCode !== null || d.child.signalCode !== null);
  if (dead) throw new Error(`daemon ${dead.label} exited (${dead.child.exitCode ?? dead.child.signalCode}); stderr: ${dead.stderrTail()}`);
}

/** Two iterations one second apart: the second one's %CPU is a real one-second average. */
async function topSnapshot(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('top', ['-b', '-n2', '-d1', '-w', '160'], { encoding: 'utf8' });
    const last = stdout.split(/^top - /m).pop() ?? '';
    return last.split('\n').slice(0, 16).map((l) => `    ${l}`).join('\n');
  } catch {
    return '    (top unavailable)';
  }
}

/**
 * Polls how many devices have had a check (the per-device series hash gains a field at a
 * device's first check) until all have; reports when, counted from the daemons' start.
 */
function watchCoverage(redis: Redis, fleetSize: number, startMs: number): { stop(): string } {
  const marks: string[] = [];
  let doneAtMs: number | undefined;
  let nextMark = 0.25;
  let stopped = false;
  const loop = async () => {
    while (!stopped && doneAtMs === undefined) {
      const checked = await redis.hlen(`${PREFIX}:series`).catch(() => 0);
      const at = Date.now();
      while (checked >= nextMark * fleetSize && nextMark <= 1) {
        marks.push(`${Math.round(nextMark * 100)}% at ${((at - startMs) / 1000).toFixed(0)} s`);
        nextMark += 0.25;
      }
      if (checked >= fleetSize) doneAtMs = at;
      await new Promise((r) => setTimeout(r, 2_000));
    }
  };
  void loop();
  return {
    stop() {
      stopped = true;
      const when = doneAtMs === undefined ? 'not every device was checked during the run' : `every device checked within ${((doneAtMs - startMs) / 1000).toFixed(0)} s of the daemons' start`;
      return `${when} (devices with a first check: ${marks.join(', ') || 'none'})`;
    },
  };
}
