import { probeFault, systemErrorCode } from './errors.js';
import { fpingArgs, parseFpingOutput, readReplyLine, type FpingReport, type FpingTargetReport, type FpingTiming } from './fping-output.js';
import { spawnPing, type PingRunner } from './spawn.js';
import type { Probe, ProbeResult, ProbeTarget } from './types.js';

export interface FpingProbeOptions {
  count: number;
  /** How long each echo request waits for its reply (`-t`). */
  timeoutMs: number;
  /**
   * How long the first call of a batch waits for others to join it. Results stream, so callers
   * come back one by one and the next calls trickle in: a short window then starts many small
   * fping processes at once, each reading every echo reply on the host. 5,000 probes at 500 in
   * flight, count 3 (`npm run bench:engines -- --window-ms N`): CPU per 1,000 probes 769 ms at
   * 20 ms, 537 at 50, 444 at 100 (this default), 401 at 200. The wait comes out of the check
   * budget's slack (see `batchLimit`), and a full batch never waits.
   */
  batchWindowMs?: number;
  /**
   * Most distinct addresses in one fping process (further capped by `batchLimit`); a full batch
   * starts at once. Few large processes beat many small ones: with `cap_net_raw` (or as root)
   * fping reads a raw ICMP socket, and every running fping receives every echo reply on the
   * host, so each extra process alive at once adds work for all of them, and each spawn costs
   * the worker ~5 ms of CPU. Streamed results keep a large batch from holding back its early
   * targets. Full-pipeline bench, 30,000 devices a minute at count 1: fping CPU per 1,000 checks
   * 0.38 s with batches of 128, 0.31 s with 250 (this default under `batchLimit`), 0.22 s with 500.
   */
  maxBatch?: number;
  intervalMs?: number;
  periodMs?: number;
  fpingPath?: string;
  /** Same contract as the ping engine's runner: start `file args`, kill it when `signal` fires. */
  run?: PingRunner;
  now?: () => number;
}

/** One caller waiting on a batch; several may wait on the same address. */
interface Waiter {
  address: string;
  deviceId: number;
  started: number;
  settle(result: ProbeResult): void;
  settled: boolean;
  detach(): void;
}

interface Batch {
  waiters: Map<string, Waiter[]>;
  /** Callers not answered yet; at 0 a running fping has nothing left to say and is killed. */
  unanswered: number;
  timer?: ReturnType<typeof setTimeout>;
  /** Set once fping runs; aborting it kills the process. */
  process?: AbortController;
}

type Where = { probe: 'icmp'; deviceId: number };
type Outcome = Omit<ProbeResult, 'durationMs'>;

/**
 * ICMP through fping: calls that arrive within `batchWindowMs` share ONE fping process over all
 * their addresses, which costs tens of µs of CPU per target instead of milliseconds per spawned
 * ping. Results mean the same as the ping engine's: up at the first reply, with its round-trip
 * time (the ping engine waits for all `count` and gives the best), down `no-reply` with
 * `k/n replies`, `error` for the prober's own faults.
 */
export function createFpingProbe(opts: FpingProbeOptions): Probe {
  const run = opts.run ?? spawnPing;
  const fpingPath = opts.fpingPath ?? 'fping';
  const now = opts.now ?? (() => performance.now());
  const timing: FpingTiming = {
    count: opts.count,
    timeoutMs: opts.timeoutMs,
    intervalMs: opts.intervalMs ?? 1,
    periodMs: opts.periodMs ?? Math.min(200, opts.timeoutMs),
  };
  const maxBatch = batchLimit(timing, opts.maxBatch ?? 512);
  const windowMs = opts.batchWindowMs ?? 100;
  const running = new Set<Batch>();
  let open: Batch | undefined;

  const launch = (batch: Batch) => {
    clearTimeout(batch.timer);
    if (open === batch) open = undefined;
    if (batch.waiters.size === 0) return;
    batch.process = new AbortController();
    running.add(batch);
    const addresses = [...batch.waiters.keys()];
    const early = settleAnswered(batch, timing.count);
    run(fpingPath, fpingArgs(addresses, timing), batch.process.signal, early).then(
      (ran) => {
        const report = parseFpingOutput(ran.stderr, addresses);
        finish(batch, (address, where) => classify(report.targets.get(address), report, ran.exitCode, timing.count, where));
      },
      (err: unknown) => finish(batch, (_address, where) => spawnFailure(err, fpingPath, where, 0)),
    );
  };

  /**
   * Streams fping's per-request lines. Any reply makes the target up, so its callers are
   * answered at its first reply: the check frees its slot after one round trip, not after
   * `count` requests spaced `periodMs` apart (at count 3, ~0.1 s instead of ~0.5 s held per
   * check, which is what capped one worker near 75,000 devices a minute at 1,000 slots). fping
   * still sends every request. Targets without a reply wait for the end-of-run report, which
   * also carries the ICMP errors that say why.
   */
  const settleAnswered = (batch: Batch, count: number) => {
    const requests = new Map<string, number>();
    let partial = '';
    return (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const reply = readReplyLine(line);
        const waiters = reply && batch.waiters.get(reply.target);
        if (!reply || !waiters) continue;
        const seen = (requests.get(reply.target) ?? 0) + 1;
        requests.set(reply.target, seen);
        if (reply.rttMs === null) continue;
        const result: Outcome = { kind: 'icmp', outcome: 'up', reason: 'ok', detail: `reply to request ${seen} of ${count}`, rttMs: reply.rttMs };
        for (const w of waiters) w.settle({ ...result, durationMs: Math.round(now() - w.started) });
      }
    };
  };

  const finish = (batch: Batch, resultFor: (address: string, where: Where) => Outcome) => {
    running.delete(batch);
    // A run we killed (every caller left, or close()) says nothing about the targets.
    const killed = batch.process?.signal.aborted ?? false;
    for (const [address, waiters] of batch.waiters) {
      for (const w of waiters) {
        const where: Where = { probe: 'icmp', deviceId: w.deviceId };
        const result = killed ? probeFault('aborted', where, 'fping killed: probe closed', 0) : resultFor(address, where);
        w.settle({ ...result, durationMs: Math.round(now() - w.started) });
      }
    }
  };

  /** A caller leaving an open batch: its address is not sent to fping (a running one is killed once nobody waits). */
  const leave = (batch: Batch, waiter: Waiter) => {
    if (batch.process) return;
    const list = (batch.waiters.get(waiter.address) ?? []).filter((w) => w !== waiter);
    if (list.length > 0) batch.waiters.set(waiter.address, list);
    else batch.waiters.delete(waiter.address);
    if (batch.waiters.size === 0 && open === batch) launch(batch);
  };

  return {
    kind: 'icmp',
    run(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
      const started = now();
      const where = { probe: 'icmp' as const, deviceId: target.deviceId };
      if (target.address.startsWith('-')) {
        return Promise.resolve(probeFault('unsafe-target', where, 'address starts with "-" and would reach fping as an option', 0));
      }
      if (signal.aborted) return Promise.resolve(probeFault('aborted', where, 'aborted before fping started', 0));
      const batch: Batch = open ?? (open = { waiters: new Map(), unanswered: 0 });
      return new Promise<ProbeResult>((resolve) => {
        const onAbort = () => {
          waiter.settle(probeFault('aborted', where, 'left the fping batch: time budget spent', Math.round(now() - started)));
          leave(batch, waiter);
        };
        const waiter: Waiter = {
          address: target.address,
          deviceId: target.deviceId,
          started,
          settled: false,
          settle(result) {
            if (waiter.settled) return;
            waiter.settled = true;
            waiter.detach();
            resolve(result);
            // Every caller answered or gone: fping's remaining requests would tell nobody anything.
            if (--batch.unanswered === 0) batch.process?.abort();
          },
          detach: () => signal.removeEventListener('abort', onAbort),
        };
        signal.addEventListener('abort', onAbort, { once: true });
        batch.unanswered++;
        const same = batch.waiters.get(target.address);
        if (same) same.push(waiter);
        else batch.waiters.set(target.address, [waiter]);
        if (batch.waiters.size >= maxBatch) launch(batch);
        else batch.timer ??= setTimeout(() => launch(batch), windowMs);
      });
    },
    async close() {
      if (open) {
        const pending = open;
        open = undefined;
        clearTimeout(pending.timer);
        pending.process = new AbortController();
        pending.process.abort();
        finish(pending, (_address, where) => probeFault('aborted', where, 'probe closed', 0));
      }
      for (const batch of running) batch.process?.abort();
    },
  };
}

/**
 * Caps a batch so its worst case stays inside what the ping engine would take for one target
 * plus half a second: fping sends `count` packets per target, one every `intervalMs` at best,
 * and the last one may wait `timeoutMs`. The caller's budget (count × timeout + slack) then
 * still fits. `-i 1` paces at ~1.7 ms a packet in practice (fping's select loop: 128 targets
 * took 224 ms here), so a packet is reckoned at twice the interval.
 */
export function batchLimit(t: FpingTiming, wanted: number): number {
  const sendingMs = t.count * t.timeoutMs + 500 - t.timeoutMs - (t.count - 1) * Math.max(10, t.periodMs);
  const fits = Math.floor(sendingMs / (t.count * PACKET_PACE_FACTOR * Math.max(1, t.intervalMs)));
  return Math.max(1, Math.min(wanted, fits));
}

const PACKET_PACE_FACTOR = 2;

// fping reports its own failures only as text on stderr and an exit code; this is the boundary
// where that becomes a typed fault.
const NOT_PERMITTED = /can't create socket|must run as root|Operation not permitted|Permission denied/i;

function classify(report: FpingTargetReport | undefined, run: FpingReport, exitCode: number | null, count: number, where: Where): Outcome {
  if (report?.kind === 'times') {
    const replies = report.times.filter((t): t is number => t !== null);
    const detail = `${Math.min(replies.length, count)}/${count} replies`;
    if (replies.length > 0) return { kind: 'icmp', outcome: 'up', reason: 'ok', detail, rttMs: Math.min(...replies) };
    if (report.unreachable) return { kind: 'icmp', outcome: 'down', reason: 'unreachable', detail: `${detail}, ${report.unreachable}` };
    return { kind: 'icmp', outcome: 'down', reason: 'no-reply', detail };
  }
  if (report?.kind === 'unresolvable') return { kind: 'icmp', outcome: 'down', reason: 'unresolvable', detail: 'name does not resolve' };
  if (report?.kind === 'resolver-failed') return probeFault('dns-failure', where, report.message.slice(0, 200), 0);
  // No line for this target: fping failed as a whole (no socket, bad argv) or said something we do not know.
  const said = (run.other[0] ?? '').slice(0, 200);
  if (NOT_PERMITTED.test(said)) return probeFault('icmp-not-permitted', where, said, 0);
  return probeFault('ping-failed', where, `fping exited ${exitCode ?? 'by signal'} without a result for the target: ${said || 'no output'}`, 0);
}

function spawnFailure(err: unknown, fpingPath: string, where: Where, durationMs: number): ProbeResult {
  const code = systemErrorCode(err);
  if (code === 'ENOENT') return probeFault('ping-missing', where, `fping binary not found (${fpingPath})`, durationMs);
  if (code === 'EACCES') return probeFault('ping-missing', where, `fping binary not executable (${fpingPath})`, durationMs);
  return probeFault('ping-failed', where, `could not start fping: ${code ?? 'unknown error'}`, durationMs);
}
