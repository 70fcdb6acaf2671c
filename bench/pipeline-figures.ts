/**
 * The pipeline benchmark's arithmetic: from readings taken at cycle boundaries to the figures of
 * one table row. No I/O here.
 */
import type { CpuTicks, DaemonHandle, SweepLog } from './pipeline-procs.js';

/** Everything read at one cycle boundary. */
export interface Boundary {
  atMs: number;
  /** inventory_prober_checks_total per daemon (by label); NaN when a scrape failed. */
  checks: Map<string, number>;
  /** checks by outcome, summed over daemons. */
  outcomes: Map<string, number>;
  cpu: Map<string, CpuTicks>;
  redisCpu: CpuTicks;
  agentCpu: CpuTicks;
  /** This process: the test inventory server (and the bench's own reads). */
  benchCpu: CpuTicks;
  /** Host-wide UDP datagrams dropped for a full receive buffer so far (/proc/net/snmp RcvbufErrors). */
  udpDrops: number;
}

export interface RunFigures {
  fleet: number;
  workers: number;
  intervalSeconds: number;
  cycles: number;
  checksPerCycle: number[];
  alreadyPending: number[];
  sweepSeconds: number[];
  exactlyOnce: boolean;
  probesPerSecond: number;
  /** CPU seconds per 1,000 checks. */
  daemonCpuPer1k: number;
  childCpuPer1k: number;
  redisCpuPer1k: number;
  agentCpuPer1k: number;
  benchCpuPer1k: number;
  /** Average cores over the measured cycles: daemons (with their ping/fping children) + Redis. */
  cores: number;
  perProcessCpuSeconds: Map<string, number>;
  peakRssMb: Map<string, number>;
  lagP99MaxMs: number;
  flips: { expected: number; flipped: number; patched: number; p50Ms: number; p99Ms: number };
  scrape: { ms: number; bytes: number };
  outcomesMeasured: Map<string, number>;
  /** UDP datagrams the host dropped for a full receive buffer in the measured window (SNMP requests or answers lost). */
  udpDrops: number;
  /** Cycles skipped because the previous sweep still ran, over the whole run (warm-up included). */
  skippedCycles: number;
  /** Inventory requests per measured sweep and their mean latency, as text. */
  inventoryRequests: string;
  /** When every device had had its first check, counted from the daemons' start, as text. */
  coverage: string;
}

const sum = (xs: Iterable<number>) => [...xs].reduce((a, b) => a + b, 0);

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** Checks counted between consecutive boundaries, summed over the worker processes. */
export function checksPerCycle(boundaries: Boundary[]): number[] {
  return boundaries.slice(1).map((b, i) => sum(b.checks.values()) - sum((boundaries[i] as Boundary).checks.values()));
}

export function cpuFigures(first: Boundary, last: Boundary, checks: number) {
  const perProcess = new Map<string, number>();
  let self = 0;
  let children = 0;
  for (const [label, end] of last.cpu) {
    const start = first.cpu.get(label) ?? { selfSeconds: 0, childrenSeconds: 0 };
    const s = end.selfSeconds - start.selfSeconds;
    const c = end.childrenSeconds - start.childrenSeconds;
    perProcess.set(label, s + c);
    self += s;
    children += c;
  }
  const redis = last.redisCpu.selfSeconds - first.redisCpu.selfSeconds;
  const agent = last.agentCpu.selfSeconds - first.agentCpu.selfSeconds;
  const bench = last.benchCpu.selfSeconds - first.benchCpu.selfSeconds;
  const wallSeconds = (last.atMs - first.atMs) / 1000;
  const per1k = (cpu: number) => (checks > 0 ? (cpu * 1000) / checks : NaN);
  return {
    perProcess,
    daemonCpuPer1k: per1k(self),
    childCpuPer1k: per1k(children),
    redisCpuPer1k: per1k(redis),
    agentCpuPer1k: per1k(agent),
    benchCpuPer1k: per1k(bench),
    cores: (self + children + redis) / wallSeconds,
  };
}

export function outcomeDelta(first: Boundary, last: Boundary): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [outcome, n] of last.outcomes) delta.set(outcome, n - (first.outcomes.get(outcome) ?? 0));
  return delta;
}

/** The sweeps of the measured cycles (a cycle is named by its start time). */
export function measuredSweeps(daemons: DaemonHandle[], cycleStarts: number[]): SweepLog[] {
  const all = daemons.flatMap((d) => d.sweeps);
  return cycleStarts.map((c) => all.find((s) => s.cycle === c) ?? { cycle: c, devices: NaN, enqueued: NaN, alreadyPending: NaN, durationMs: NaN });
}

/** Requests per sweep (list/detail) and the mean latency per endpoint kind the scheduler measured. */
export function inventoryFigures(sweeps: SweepLog[], latency: Map<string, number>): string {
  const perSweep = sweeps.map((s) => (s.requests ? `${s.requests.list}/${s.requests.detail}` : '-')).join(', ');
  const mean = (endpoint: string) => {
    const sum = latency.get(`inventory_prober_inventory_request_duration_seconds_sum{method="GET",endpoint="${endpoint}"}`) ?? NaN;
    const count = latency.get(`inventory_prober_inventory_request_duration_seconds_count{method="GET",endpoint="${endpoint}"}`) ?? NaN;
    return count > 0 ? `${((sum / count) * 1000).toFixed(0)} ms over ${count}` : '-';
  };
  return `list/detail requests per measured sweep ${perSweep}; mean latency list ${mean('list')}, detail ${mean('detail')}`;
}

/** Flip log time → PATCH arrival at the inventory, for the devices silenced mid-run. */
export function flipLatency(daemons: DaemonHandle[], flipIds: number[], patches: { id: number; body: unknown; at: number }[]) {
  const firstDownPatch = new Map<number, number>();
  for (const p of patches) {
    if ((p.body as { status?: unknown } | undefined)?.status === false && !firstDownPatch.has(p.id)) firstDownPatch.set(p.id, p.at);
  }
  const latencies: number[] = [];
  let flipped = 0;
  for (const id of flipIds) {
    const flipAt = daemons.map((d) => d.downFlips.get(id)).find((t) => t !== undefined);
    if (flipAt === undefined) continue;
    flipped++;
    const patchAt = firstDownPatch.get(id);
    if (patchAt !== undefined) latencies.push(patchAt - flipAt);
  }
  return { expected: flipIds.length, flipped, patched: latencies.length, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}
