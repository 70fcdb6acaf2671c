import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { isIPv6 } from 'node:net';
import { ProbeError, systemErrorCode } from './errors.js';
import type { Probe, ProbeResult, ProbeTarget } from './types.js';

/** What one run of the ping binary left behind. */
export interface PingRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts `file args`, resolves once the child has exited. Rejects with the Node system error
 * (`code` ENOENT, EACCES) when the binary cannot be started. When `signal` fires it must kill the
 * child; it may then resolve or reject, the probe reports `aborted` either way. `onStdout`, when
 * given, sees stdout as it arrives (fping's per-reply lines); the resolved `stdout` still holds all of it.
 */
export type PingRunner = (file: string, args: readonly string[], signal: AbortSignal, onStdout?: (chunk: string) => void) => Promise<PingRun>;

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

/** Spawns ping directly (not `ping.promise.probe`) so we can kill it, see stderr and ENOENT. */
export const spawnPing: PingRunner = (file, args, signal, onStdout) =>
  new Promise((resolve, reject) => {
    // LANG=C keeps the output the parser expects; the library's own helper would set it on
    // process.env for the whole daemon, so we pass a copy.
    const child = spawn(file, args, { shell: false, signal, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LANG: 'C', LC_ALL: 'C' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      onStdout?.(b.toString('utf8'));
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      if (child.pid === undefined) reject(e); // never started; an abort still ends in 'close'
    });
    child.once('close', (exitCode) =>
      resolve({ exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });

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

export type IcmpPermission =
  | { ok: true }
  /** `no-reply`: the engine ran but 127.0.0.1 did not answer it. */
  | { ok: false; kind: 'missing' | 'not-permitted' | 'no-reply' | 'other'; reason: string; hint: string };

export interface IcmpPermissionDeps {
  probe?: Probe;
  /** Reads a /proc file; undefined when it is not there (not Linux). */
  readText?: (path: string) => Promise<string | undefined>;
  /** The effective and supplementary group ids the kernel checks against ping_group_range. */
  groups?: () => number[];
}

const SYSCTL_HINT =
  'let the daemon\'s group open ICMP datagram sockets: `sysctl -w net.ipv4.ping_group_range="0 2147483647"` and persist it in ' +
  '/etc/sysctl.d/60-inventory-prober.conf; in Kubernetes set the pod sysctl net.ipv4.ping_group_range (a safe sysctl) under ' +
  'securityContext.sysctls. Alternatively `setcap cap_net_raw+ep $(command -v ping)`, which is ignored under systemd ' +
  'NoNewPrivileges=/DynamicUser= and Kubernetes allowPrivilegeEscalation: false.';

/** Pings 127.0.0.1 once at start-up and, when ICMP does not work, says exactly why and what to change. */
export async function checkIcmpPermission(deps: IcmpPermissionDeps = {}): Promise<IcmpPermission> {
  const probe = deps.probe ?? createIcmpProbe({ count: 1, timeoutMs: 1000 });
  const result = await probe.run({ deviceId: 0, address: '127.0.0.1' }, AbortSignal.timeout(5000));
  if (result.outcome === 'up') return { ok: true };
  if (result.reason === 'ping-missing') {
    return { ok: false, kind: 'missing', reason: result.detail, hint: 'install the configured ICMP engine (probes.icmp.engine): fping, or iputils-ping for ping (Debian/Ubuntu), or put it on PATH' };
  }
  if (result.reason === 'icmp-not-permitted') {
    return { ok: false, kind: 'not-permitted', reason: await explainNotPermitted(deps, result.detail), hint: SYSCTL_HINT };
  }
  if (result.outcome === 'down') {
    return { ok: false, kind: 'no-reply', reason: `127.0.0.1 did not answer ICMP (${result.detail})`, hint: 'a firewall rule drops ICMP echo on loopback; allow it' };
  }
  return { ok: false, kind: 'other', reason: `${result.reason}: ${result.detail}`, hint: 'run `ping -c 1 127.0.0.1` as the daemon\'s user to see the error' };
}

async function explainNotPermitted(deps: IcmpPermissionDeps, pingSaid: string): Promise<string> {
  const readText = deps.readText ?? readProcText;
  const groups = deps.groups ?? processGroups;
  const range = (await readText('/proc/sys/net/ipv4/ping_group_range'))?.trim().split(/\s+/).map(Number);
  const status = await readText('/proc/self/status');
  const noNewPrivs = /^NoNewPrivs:\s*1$/m.test(status ?? '');
  const ids = groups();
  const parts = [`ping said "${pingSaid}"`];
  if (range && range.length === 2) {
    const [lo = 1, hi = 0] = range;
    const inside = ids.some((g) => g >= lo && g <= hi);
    parts.push(`net.ipv4.ping_group_range is "${lo} ${hi}" and this process's groups (${ids.join(', ')}) are ${inside ? 'inside' : 'outside'} it`);
  }
  parts.push(noNewPrivs ? 'no_new_privs is set, so a cap_net_raw file capability on ping is ignored' : 'ping lacks a usable cap_net_raw capability');
  return parts.join('; ');
}

async function readProcText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

function processGroups(): number[] {
  const ids = new Set<number>(process.getegid ? [process.getegid(), ...(process.getgroups?.() ?? [])] : []);
  return [...ids];
}
