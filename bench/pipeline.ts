/**
 * Full-pipeline benchmark (issue: 100,000 devices per minute on a 2-core machine). For each fleet
 * size and worker count it runs the real thing on this machine: the demo inventory server (in this
 * process), a throw-away redis-server, the built daemon (`node dist/cli.js run --role scheduler`
 * plus N `--role worker`, or one `--role all` for BENCH_WORKERS=0), one SNMP agent process bound
 * to 0.0.0.0 answering for every 127.x.y.z device, and 5% unreachable devices. Prints one table
 * row per run; asserts nothing about time.
 *
 * Network: devices live on 127.0.0.0/8 (every address answers ICMP on Linux). The only other
 * traffic goes to 198.18.0.0/16, routed into a network namespace this benchmark creates
 * (`ipbench-<pid>`, see pipeline-netns.ts) and removes on exit, SIGINT and SIGTERM.
 *
 *   npm run build && npx tsc -p tsconfig.bench.json && node dist-bench/bench/pipeline.js
 *   env: BENCH_FLEETS=1000,10000,100000  BENCH_WORKERS=1 (or 1,2; 0 = one --role all process)
 *        BENCH_INTERVAL=60  BENCH_CYCLES=3  BENCH_WARMUP_CYCLES=1 (cycles before the measured ones)  BENCH_ICMP_ENGINE=native|fping|ping  BENCH_SNMP_ENGINE=session-per-probe|shared
 *        BENCH_CONCURRENCY=1000  BENCH_PATCHES_PER_SECOND=10  BENCH_PER_DEVICE=basic  BENCH_TOP=1 (top snapshot per run)
 *        BENCH_ICMP_COUNT=1 (echo requests per check; the daemon's default is 3)
 *        BENCH_INVENTORY_LATENCY_MS=0 (added to every GET of the test inventory, list and detail)
 *        BENCH_LIST_ROWS=spec (the spec's list rows, without management_ip/snmp_community: details
 *          needed, seeded in the cache as a steady fleet has them) | full (rows carry both: no details)
 *        BENCH_COLD_START=1 (spec rows, nothing cached: every detail is fetched while the fleet is
 *          swept; prints when every device had its first check and how many cycles were skipped)
 *        BENCH_PAGE_CONCURRENCY / BENCH_DETAIL_CONCURRENCY (default: the daemon's defaults)
 *        BENCH_UNPRIVILEGED=1: the daemons run as the hardened deployments run them (uid 65534,
 *          no capability, empty bounding set, no_new_privs), with net.ipv4.ping_group_range
 *          opened to group 65534 for the run and restored on exit (bench/unprivileged.ts)
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { DEFAULTS } from '../src/config/defaults.js';
import { COMMUNITY } from './pipeline-fleet.js';
import { createUnreachableNet } from './pipeline-netns.js';
import { runPipeline } from './pipeline-run.js';
import { openPingGroupRangeForNobody } from './unprivileged.js';
import type { RunFigures } from './pipeline-figures.js';

const list = (raw: string | undefined, fallback: string) => (raw || fallback).split(',').map((s) => Number(s.trim())).filter((n) => Number.isFinite(n));
const FLEETS = list(process.env.BENCH_FLEETS, '1000,10000,100000');
const WORKERS = list(process.env.BENCH_WORKERS, '1');
const INTERVAL_SECONDS = Number(process.env.BENCH_INTERVAL || 60);
const CYCLES = Math.max(1, Number(process.env.BENCH_CYCLES || 3));
const WARMUP_CYCLES = Math.max(1, Number(process.env.BENCH_WARMUP_CYCLES || 1));
const ICMP_ENGINE = process.env.BENCH_ICMP_ENGINE || undefined;
const SNMP_ENGINE = process.env.BENCH_SNMP_ENGINE || undefined;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY || 1000);
const PATCHES_PER_SECOND = Number(process.env.BENCH_PATCHES_PER_SECOND || DEFAULTS.reporter.patches_per_second);
const PER_DEVICE = process.env.BENCH_PER_DEVICE || DEFAULTS.metrics.per_device;
const ICMP_COUNT = Number(process.env.BENCH_ICMP_COUNT || 1);
const INVENTORY_LATENCY_MS = Number(process.env.BENCH_INVENTORY_LATENCY_MS || 0);
const COLD_START = process.env.BENCH_COLD_START === '1';
const LIST_ROWS = process.env.BENCH_LIST_ROWS === 'full' && !COLD_START ? 'full' : 'spec';
const PAGE_CONCURRENCY = Number(process.env.BENCH_PAGE_CONCURRENCY || DEFAULTS.inventory.page_concurrency);
const DETAIL_CONCURRENCY = Number(process.env.BENCH_DETAIL_CONCURRENCY || DEFAULTS.inventory.detail_concurrency);

const log = (line: string) => process.stdout.write(`${line}\n`);
const children = new Set<ChildProcess>();
const cleanups: (() => void)[] = [];

/** Synchronous, so it also runs from 'exit': every child killed, the namespace removed. */
function cleanUp(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
  for (const fn of cleanups.splice(0)) fn();
}
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    log(`\n${signal}: stopping every child process and removing the namespace`);
    cleanUp();
    process.exit(130);
  });
}

function machine(): string {
  const model = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  const nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  return `machine: nproc ${nproc} (${cpus().length} logical), ${model}, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
}

async function startAgent(): Promise<{ port: number; pid: number }> {
  const child = fork(new URL('./pipeline-agent.js', import.meta.url), [COMMUNITY], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  return new Promise((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve({ port: m.port, pid: child.pid as number }));
    child.once('exit', (code) => reject(new Error(`SNMP agent process exited with code ${code}`)));
  });
}

const f = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const COLUMNS: [string, (r: RunFigures) => string][] = [
  ['devices', (r) => String(r.fleet)],
  ['workers', (r) => (r.workers === 0 ? 'all-in-1' : String(r.workers))],
  ['interval s', (r) => String(r.intervalSeconds)],
  ['probes/s', (r) => f(r.probesPerSecond, 1)],
  ['once/cycle', (r) => (r.exactlyOnce ? 'yes' : 'NO')],
  ['sweep s max', (r) => f(Math.max(...r.sweepSeconds), 1)],
  ['skipped', (r) => String(r.skippedCycles)],
  ['daemon cpu s/1k', (r) => f(r.daemonCpuPer1k, 3)],
  ['ping/fping s/1k', (r) => f(r.childCpuPer1k, 3)],
  ['redis cpu s/1k', (r) => f(r.redisCpuPer1k, 3)],
  ['cores', (r) => f(r.cores, 2)],
  ['peak RSS MB', (r) => [...r.peakRssMb].map(([label, mb]) => `${label} ${f(mb)}`).join(', ')],
  ['loop p99 max ms', (r) => f(r.lagP99MaxMs, 1)],
  ['flip→PATCH p50/p99 ms', (r) => `${f(r.flips.p50Ms)}/${f(r.flips.p99Ms)} (${r.flips.patched}/${r.flips.expected})`],
  ['scrape ms', (r) => `${f(r.scrape.ms)} (${f(r.scrape.bytes / 1024)} KiB)`],
];

function table(rows: RunFigures[]): string {
  const cells = [COLUMNS.map(([h]) => h), ...rows.map((r) => COLUMNS.map(([, cell]) => cell(r)))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((row) => (row[i] as string).length)));
  return cells.map((row) => row.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')).join('\n');
}

function details(r: RunFigures): string {
  const perProcess = [...r.perProcessCpuSeconds].map(([label, s]) => `${label} ${f(s, 1)} s`).join(', ');
  const outcomes = [...r.outcomesMeasured].map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    `  ${r.fleet} devices, ${r.workers === 0 ? 'one --role all process' : `${r.workers} worker process(es)`}:`,
    `    checks per cycle ${r.checksPerCycle.join(', ')} (${outcomes}); sweep alreadyPending ${r.alreadyPending.join(', ')}; sweep seconds ${r.sweepSeconds.map((s) => f(s, 1)).join(', ')}`,
    `    CPU over ${r.cycles} cycles (with reaped ping/fping children): ${perProcess}; SNMP agent (simulator) ${f(r.agentCpuPer1k, 3)} s/1k, inventory server + bench (this process) ${f(r.benchCpuPer1k, 3)} s/1k`,
    `    flips: ${r.flips.flipped}/${r.flips.expected} flipped Down, ${r.flips.patched} PATCHed; UDP datagrams dropped for a full receive buffer (host-wide): ${r.udpDrops}`,
    `    inventory: ${r.inventoryRequests}; sweeps skipped ${r.skippedCycles}; ${r.coverage}`,
  ].join('\n');
}

async function main(): Promise<void> {
  log(machine());
  const defaults = DEFAULTS.probes;
  log(`engines: icmp ${ICMP_ENGINE ?? `${defaults.icmp.engine} (default)`}, snmp ${SNMP_ENGINE ?? `${defaults.snmp.engine} (default)`}; worker.concurrency ${CONCURRENCY}; patches_per_second ${PATCHES_PER_SECOND}; per_device metrics ${PER_DEVICE}`);
  log(`probes: icmp count ${ICMP_COUNT} timeout 1000 ms, snmp v2c timeout 1000 ms retries 0, up_when all, down_after 1; page_size 100, spread 0.8`);
  log(`inventory: ${INVENTORY_LATENCY_MS} ms added to every GET; list rows ${LIST_ROWS}${LIST_ROWS === 'spec' ? (COLD_START ? ', detail cache empty (cold start)' : ', details cached') : ''}; page_concurrency ${PAGE_CONCURRENCY}, detail_concurrency ${DETAIL_CONCURRENCY}`);
  log(`fleets ${FLEETS.join(', ')} × workers ${WORKERS.join(', ')}; interval ${INTERVAL_SECONDS} s; ${WARMUP_CYCLES} warm-up + ${CYCLES} measured cycles each`);
  if (process.env.BENCH_UNPRIVILEGED === '1') {
    cleanups.push(openPingGroupRangeForNobody());
    log('daemons unprivileged: uid 65534, no capabilities, empty bounding set, no_new_privs; net.ipv4.ping_group_range "65534 65534" for this run');
  }
  const net = createUnreachableNet();
  const netns = !('failed' in net);
  if ('failed' in net) log(`NOTE: no network namespace (${net.failed}); unreachable devices are SNMP-silent on loopback and up_when is snmp`);
  else {
    cleanups.push(net.remove);
    log(`unreachable 5%: 198.18.0.0/16 routed into namespace ${net.name}, where nothing answers`);
  }
  const agent = await startAgent();
  const runs = FLEETS.flatMap((fleetSize) => WORKERS.map((workers) => ({ fleetSize, workers })));
  // Setup + waiting for a boundary + warm-up + measured cycles + shutdown, per run.
  const budgetMs = runs.length * ((CYCLES + WARMUP_CYCLES + 2) * INTERVAL_SECONDS * 1000 + 180_000);
  setTimeout(() => {
    log(`time limit of ${Math.round(budgetMs / 1000)} s reached: stopping`);
    process.exit(2);
  }, budgetMs).unref();
  const rows: RunFigures[] = [];
  for (const { fleetSize, workers } of runs) {
    log(`\nrun: ${fleetSize} devices, ${workers === 0 ? 'one --role all process' : `scheduler + ${workers} worker process(es)`}`);
    const result = await runPipeline({
      fleetSize,
      workers,
      cycles: CYCLES,
      warmupCycles: WARMUP_CYCLES,
      intervalSeconds: INTERVAL_SECONDS,
      snmpPort: agent.port,
      icmpEngine: ICMP_ENGINE,
      snmpEngine: SNMP_ENGINE,
      concurrency: CONCURRENCY,
      patchesPerSecond: PATCHES_PER_SECOND,
      perDevice: PER_DEVICE,
      icmpCount: ICMP_COUNT,
      inventoryLatencyMs: INVENTORY_LATENCY_MS,
      listRows: LIST_ROWS,
      coldStart: COLD_START,
      pageConcurrency: PAGE_CONCURRENCY,
      detailConcurrency: DETAIL_CONCURRENCY,
      netns,
      agentPid: agent.pid,
      top: process.env.BENCH_TOP === '1',
      log,
      track: (child) => children.add(child),
    }).catch((err: Error) => {
      log(`  run failed: ${err.message}`);
      return undefined;
    });
    if (result) {
      rows.push(result);
      log(details(result));
    }
  }
  log(`\n${table(rows)}`);
  log('\nCPU figures are seconds of CPU per 1,000 device checks; cores = (daemons + their ping/fping children + Redis) CPU / wall time over the measured cycles.');
  log(`once/cycle: checks per cycle (summed over workers) == fleet size and every sweep had alreadyPending 0. Load average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`);
}

main()
  .catch((err: Error) => {
    process.stderr.write(`pipeline benchmark failed: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    cleanUp();
    // The agent and any straggler handle must not keep the process alive after the table.
    setTimeout(() => process.exit(), 500).unref();
  });
