import { probeFault, systemErrorCode } from './errors.js';
import { pingArgs, replyTimes } from './ping-output.js';
import { spawnPing, type PingRun, type PingRunner } from './spawn.js';
import type { Probe, ProbeResult, ProbeTarget } from './types.js';

export interface IcmpProbeOptions {
  count: number;
  /** How long ping waits for each reply (`-W`). */
  timeoutMs: number;
  pingPath?: string;
  run?: PingRunner;
  now?: () => number;
}

export function createIcmpProbe(opts: IcmpProbeOptions): Probe {
  const run = opts.run ?? spawnPing;
  const pingPath = opts.pingPath ?? 'ping';
  const now = opts.now ?? (() => performance.now());
  return {
    kind: 'icmp',
    async run(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
      const started = now();
      const elapsed = () => Math.round(now() - started);
      const where = { probe: 'icmp' as const, deviceId: target.deviceId };
      if (target.address.startsWith('-')) {
        return probeFault('unsafe-target', where, 'address starts with "-" and would reach ping as an option', elapsed());
      }
      if (signal.aborted) return probeFault('aborted', where, 'aborted before ping started', elapsed());
      let ran: PingRun;
      try {
        ran = await run(pingPath, pingArgs(target.address, opts.count, opts.timeoutMs), signal);
      } catch (err) {
        if (signal.aborted) return probeFault('aborted', where, 'ping killed: time budget spent', elapsed());
        return spawnFailure(err, pingPath, where, elapsed());
      }
      if (signal.aborted) return probeFault('aborted', where, 'ping killed: time budget spent', elapsed());
      return classify(ran, opts.count, where, elapsed());
    },
  };
}

function spawnFailure(err: unknown, pingPath: string, where: { probe: 'icmp'; deviceId: number }, durationMs: number): ProbeResult {
  const code = systemErrorCode(err);
  if (code === 'ENOENT') return probeFault('ping-missing', where, `ping binary not found (${pingPath})`, durationMs);
  if (code === 'EACCES') return probeFault('ping-missing', where, `ping binary not executable (${pingPath})`, durationMs);
  return probeFault('ping-failed', where, `could not start ping: ${code ?? 'unknown error'}`, durationMs);
}

// ping reports its own failures only as text on stderr (exit 2); this is the boundary where
// that text becomes a typed fault, so nothing past here looks at it.
const NOT_PERMITTED = /Operation not permitted|Permission denied|cap_net_raw|setuid/i;
const NAME_UNKNOWN = /Name or service not known|No address associated with hostname|Name does not resolve|Unknown host/i;
const RESOLVER_DOWN = /Temporary failure in name resolution|Try again/i;
const UNREACHABLE = /Network is unreachable|No route to host/i;

function classify(ran: PingRun, count: number, where: { probe: 'icmp'; deviceId: number }, durationMs: number): ProbeResult {
  const times = replyTimes(ran.stdout);
  const replies = Math.min(times.length, count);
  const detail = `${replies}/${count} replies`;
  if (replies > 0) {
    return { kind: 'icmp', outcome: 'up', reason: 'ok', detail, durationMs, rttMs: Math.min(...times) };
  }
  const stderr = ran.stderr.trim();
  if (NOT_PERMITTED.test(stderr)) return probeFault('icmp-not-permitted', where, firstLine(stderr), durationMs);
  if (ran.exitCode === 1) return { kind: 'icmp', outcome: 'down', reason: 'no-reply', detail, durationMs };
  if (NAME_UNKNOWN.test(stderr)) return { kind: 'icmp', outcome: 'down', reason: 'unresolvable', detail: 'name does not resolve', durationMs };
  if (RESOLVER_DOWN.test(stderr)) return probeFault('dns-failure', where, firstLine(stderr), durationMs);
  if (UNREACHABLE.test(stderr)) return { kind: 'icmp', outcome: 'down', reason: 'unreachable', detail: firstLine(stderr), durationMs };
  return probeFault('ping-failed', where, `ping exited ${ran.exitCode ?? 'by signal'}: ${firstLine(stderr) || 'no output'}`, durationMs);
}

const firstLine = (text: string): string => (text.split('\n').find((l) => l.trim() !== '') ?? '').trim().slice(0, 200);
