import { createRequire } from 'node:module';
import { isIPv6 } from 'node:net';
import { ProbeError, systemErrorCode } from './errors.js';
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

// The `ping` package has no typings for its builder and parser, and no `exports` map, so the
// deep CommonJS paths are its public surface as far as Node is concerned.
interface PingLibConfig {
  numeric: boolean;
  timeout: number;
  min_reply: number;
  v6: boolean;
  extra: string[];
}
interface PingLibParser {
  eat(line: string): unknown;
  getResult(): { times: number[] };
}
const require = createRequire(import.meta.url);
const builderFactory = require('ping/lib/builder/factory.js') as {
  createBuilder(platform: string): { getCommandArguments(target: string, config: PingLibConfig): string[] };
};
const parserFactory = require('ping/lib/parser/factory.js') as {
  createParser(target: string, platform: string, config: PingLibConfig): PingLibParser;
};

/** The argv the `ping` package builds, plus an interval that keeps count × interval inside the budget and `--` before the target. */
export function pingArgs(address: string, count: number, timeoutMs: number): string[] {
  const config: PingLibConfig = { numeric: true, timeout: timeoutMs / 1000, min_reply: count, v6: isIPv6(address), extra: ['-i', '0.2', '--'] };
  return builderFactory.createBuilder(process.platform).getCommandArguments(address, config);
}

/** Reply round-trip times (ms) in ping's stdout, read with the `ping` package's parser. */
export function replyTimes(address: string, stdout: string): number[] {
  const config: PingLibConfig = { numeric: true, timeout: 1, min_reply: 1, v6: isIPv6(address), extra: [] };
  const parser = parserFactory.createParser(address, process.platform, config);
  try {
    for (const line of stdout.split('\n')) parser.eat(line);
    return parser.getResult().times;
  } catch {
    return []; // output it cannot read (an error banner) holds no replies
  }
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
        return new ProbeError('unsafe-target', where, 'address starts with "-" and would reach ping as an option').toResult(elapsed());
      }
      if (signal.aborted) return new ProbeError('aborted', where, 'aborted before ping started').toResult(elapsed());
      let ran: PingRun;
      try {
        ran = await run(pingPath, pingArgs(target.address, opts.count, opts.timeoutMs), signal);
      } catch (err) {
        if (signal.aborted) return new ProbeError('aborted', where, 'ping killed: time budget spent', { cause: err }).toResult(elapsed());
        return spawnFailure(err, pingPath, where).toResult(elapsed());
      }
      if (signal.aborted) return new ProbeError('aborted', where, 'ping killed: time budget spent').toResult(elapsed());
      return classify(ran, target.address, opts.count, where, elapsed());
    },
  };
}

function spawnFailure(err: unknown, pingPath: string, where: { probe: 'icmp'; deviceId: number }): ProbeError {
  const code = systemErrorCode(err);
  if (code === 'ENOENT') return new ProbeError('ping-missing', where, `ping binary not found (${pingPath})`, { cause: err });
  if (code === 'EACCES') return new ProbeError('ping-missing', where, `ping binary not executable (${pingPath})`, { cause: err });
  return new ProbeError('ping-failed', where, `could not start ping: ${code ?? 'unknown error'}`, { cause: err });
}

// ping reports its own failures only as text on stderr (exit 2); this is the boundary where
// that text becomes a typed fault, so nothing past here looks at it.
const NOT_PERMITTED = /Operation not permitted|Permission denied|cap_net_raw|setuid/i;
const NAME_UNKNOWN = /Name or service not known|No address associated with hostname|Name does not resolve|Unknown host/i;
const RESOLVER_DOWN = /Temporary failure in name resolution|Try again/i;
const UNREACHABLE = /Network is unreachable|No route to host/i;

function classify(ran: PingRun, address: string, count: number, where: { probe: 'icmp'; deviceId: number }, durationMs: number): ProbeResult {
  const times = replyTimes(address, ran.stdout);
  const replies = Math.min(times.length, count);
  const detail = `${replies}/${count} replies`;
  if (replies > 0) {
    return { kind: 'icmp', outcome: 'up', reason: 'ok', detail, durationMs, rttMs: Math.min(...times) };
  }
  const stderr = ran.stderr.trim();
  if (NOT_PERMITTED.test(stderr)) return new ProbeError('icmp-not-permitted', where, firstLine(stderr)).toResult(durationMs);
  if (ran.exitCode === 1) return { kind: 'icmp', outcome: 'down', reason: 'no-reply', detail, durationMs };
  if (NAME_UNKNOWN.test(stderr)) return { kind: 'icmp', outcome: 'down', reason: 'unresolvable', detail: 'name does not resolve', durationMs };
  if (RESOLVER_DOWN.test(stderr)) return new ProbeError('dns-failure', where, firstLine(stderr)).toResult(durationMs);
  if (UNREACHABLE.test(stderr)) return { kind: 'icmp', outcome: 'down', reason: 'unreachable', detail: firstLine(stderr), durationMs };
  return new ProbeError('ping-failed', where, `ping exited ${ran.exitCode ?? 'by signal'}: ${firstLine(stderr) || 'no output'}`).toResult(durationMs);
}

const firstLine = (text: string): string => (text.split('\n').find((l) => l.trim() !== '') ?? '').trim().slice(0, 200);
