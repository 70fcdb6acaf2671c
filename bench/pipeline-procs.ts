/**
 * The processes the pipeline benchmark measures: daemons spawned from the built CLI (their JSON
 * logs reduced to what the figures need), and /proc and /metrics readings of any pid.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { asNobody } from './unprivileged.js';

const CLI = resolve(import.meta.dirname, '../../dist/cli.js');
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** One sweep as the scheduler logged it ("sweep done"). */
export interface SweepLog {
  cycle: number;
  devices: number;
  enqueued: number;
  alreadyPending: number;
  durationMs: number;
  pages?: number;
  awaitingDetail?: number;
  requests?: { list: number; detail: number };
}

export interface DaemonHandle {
  label: string;
  child: ChildProcess;
  pid: number;
  metricsPort: number;
  /** First Down flip per device: log time (ms since epoch). */
  downFlips: Map<number, number>;
  sweeps: SweepLog[];
  /** Log lines at warn or above, by message: what went wrong, if anything. */
  problems: Map<string, number>;
  /** Every log line, by message: what a process spends its log volume on. */
  lines: Map<string, number>;
  stderrTail: () => string;
  stop(): Promise<void>;
}

interface LogLine {
  level?: string;
  msg?: string;
  time?: string;
  deviceId?: number;
  to?: string;
  [key: string]: unknown;
}

/**
 * Spawns `node dist/cli.js run --role <role>` with its own metrics port. BENCH_NODE_ARGS go to
 * node before the script, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where the daemons'
 * CPU goes (written when they exit on SIGTERM).
 */
export function spawnDaemon(label: string, role: string, configFile: string, env: Record<string, string>, metricsPort: number): DaemonHandle {
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // setpriv execs node in place: the pid (and so the CPU and RSS readings) stay the daemon's.
  const argv = [...(process.env.BENCH_UNPRIVILEGED === '1' ? asNobody({ emptyBoundingSet: true }) : []), process.execPath, ...nodeArgs, CLI, 'run', '--role', role, '--config', configFile];
  const child = spawn(argv[0] as string, argv.slice(1), {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...env,
      METRICS_PORT: String(metricsPort),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const handle: DaemonHandle = {
    label,
    child,
    pid: child.pid as number,
    metricsPort,
    downFlips: new Map(),
    sweeps: [],
    problems: new Map(),
    lines: new Map(),
    stderrTail: () => stderr.slice(-2000),
    stop: () => stopChild(child, 25_000),
  };
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-8000)));
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) record(handle, line);
  });
  return handle;
}

/** Keeps only flips, sweeps and problems: a 100,000-device run must not hold its log in memory. */
function record(handle: DaemonHandle, line: string): void {
  const msg = /"msg":"([^"]{0,80})/.exec(line)?.[1] ?? '(no msg)';
  handle.lines.set(msg, (handle.lines.get(msg) ?? 0) + 1);
  const wanted = line.includes('"device flipped"') || line.includes('"sweep done"') || /"level":"(warn|error|fatal)"/.test(line);
  if (!wanted) return;
  let entry: LogLine;
  try {
    entry = JSON.parse(line) as LogLine;
  } catch {
    return;
  }
  if (entry.msg === 'device flipped' && entry.to === 'down' && typeof entry.deviceId === 'number' && !handle.downFlips.has(entry.deviceId)) {
    handle.downFlips.set(entry.deviceId, Date.parse(entry.time ?? ''));
  } else if (entry.msg === 'sweep done') {
    handle.sweeps.push(entry as unknown as SweepLog);
  }
  if (entry.level === 'warn' || entry.level === 'error' || entry.level === 'fatal') {
    const cause = typeof entry.err === 'string' ? ` (${entry.err.slice(0, 120)})` : '';
    const key = `${entry.level}: ${entry.msg ?? '?'}${cause}`;
    handle.problems.set(key, (handle.problems.get(key) ?? 0) + 1);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface CpuTicks {
  /** utime + stime of the process (all its threads), seconds. */
  selfSeconds: number;
  /** cutime + cstime: its exited, reaped children (ping / fping), seconds. */
  childrenSeconds: number;
}

export function cpuOf(pid: number): CpuTicks {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces): utime is field 14 of stat(5).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return { selfSeconds: ((f[11] ?? 0) + (f[12] ?? 0)) / TICKS_PER_SECOND, childrenSeconds: ((f[13] ?? 0) + (f[14] ?? 0)) / TICKS_PER_SECOND };
  } catch {
    return { selfSeconds: NaN, childrenSeconds: NaN };
  }
}

/** VmHWM: the process's peak resident set so far, MB. */
export function peakRssMb(pid: number): number {
  try {
    const kb = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Number(kb ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

export interface Scrape {
  /** Bare metric name → sum over its series; full series (with labels) → value. */
  values: Map<string, number>;
  ms: number;
  bytes: number;
}

/** GET /metrics, timed; an unreachable process gives an empty map rather than failing the run. */
/**
 * One GET /metrics. Without `perDevice`, `?per_device=off`: the bench's frequent reads (lag,
 * counters) would otherwise make the leader render, and this process parse, the whole fleet's
 * series each time (75 MB at 300,000 devices), starving the inventory server in this process.
 */
export async function scrape(port: number, opts: { perDevice?: boolean } = {}): Promise<Scrape> {
  const values = new Map<string, number>();
  const started = performance.now();
  let text = '';
  try {
    const path = opts.perDevice ? '/metrics' : '/metrics?per_device=off';
    text = await (await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(20_000) })).text();
  } catch {
    return { values, ms: NaN, bytes: 0 };
  }
  const ms = performance.now() - started;
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const series = line.slice(0, space);
    const name = line.slice(0, line.search(/[ {]/));
    const value = Number(line.slice(space + 1));
    values.set(name, (values.get(name) ?? 0) + value);
    if (series !== name) values.set(series, value);
  }
  return { values, ms, bytes: Buffer.byteLength(text) };
}

/** The host's UDP RcvbufErrors counter: a datagram dropped because its socket's buffer was full. */
export function udpReceiveDrops(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp: '));
  const [names, values] = lines.map((l) => l.split(/\s+/).slice(1));
  const at = names?.indexOf('RcvbufErrors') ?? -1;
  return at >= 0 ? Number(values?.[at]) : NaN;
}
