import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { probeFault, systemErrorCode, type ProbeErrorKind } from './errors.js';
import { DeadlineQueue } from './deadline-queue.js';
import { addressBytes, loadIcmpEchoAddon, parseIPv4, type AddonLoad, type IpFamily } from './icmp-echo-addon.js';
import { EchoSender } from './icmp-echo-sockets.js';
import { EchoSocketRefused, openEchoSockets, type ChosenSockets, type PermissionFacts, type SocketPreference } from './icmp-socket-kind.js';
import { CheckGroup, checkContext, EchoCheck, type Outcome } from './native-icmp-check.js';
import type { Probe, ProbeResult, ProbeTarget } from './types.js';

export interface NativeIcmpOptions {
  count: number;
  /** How long each echo request waits for its reply; the check ends this long after its last request. */
  timeoutMs: number;
  /** Between a check's requests; default min(200, timeoutMs), like the other engines. */
  intervalMs?: number;
  sockets?: SocketPreference;
  /** Most requests sent per event-loop turn (see EchoSender). */
  sendChunk?: number;
  /** SO_RCVBUF asked for; the kernel caps it at net.core.rmem_max unless we hold CAP_NET_ADMIN. */
  receiveBufferBytes?: number;
  seqsPerSocket?: number;
  lookup?: (host: string) => Promise<{ address: string; family: number }>;
  load?: () => AddonLoad;
  facts?: () => PermissionFacts;
  now?: () => number;
}

/** A family's sockets as the start-up log reports them. */
export interface EchoSocketReport {
  family: IpFamily;
  kind: 'dgram' | 'raw';
  why: string;
  sockets: { ident: number; receiveBufferBytes: number }[];
}

export interface NativeIcmpProbe extends Probe {
  /** The sockets opened so far (a family opens at its first check). */
  sockets(): EchoSocketReport[];
  close(): Promise<void>;
}

type Where = { probe: 'icmp'; deviceId: number };
type Fault = { kind: ProbeErrorKind; detail: string };

/**
 * ICMP from inside the process (native/icmp_echo.c): no helper binary and, on a datagram
 * socket, no privilege. Same results as the other engines: `count` requests `intervalMs` apart,
 * the first reply settles the check as up, an ICMP error (unreachable, prohibited) settles it
 * as down at once with that reason, and no answer `timeoutMs` after the last request is down
 * `no-reply` (EchoCheck). Prober faults (no socket permission, addon missing) are `error`.
 */
export function createNativeIcmpProbe(opts: NativeIcmpOptions): NativeIcmpProbe {
  const now = opts.now ?? (() => performance.now());
  const lookup = opts.lookup ?? ((host: string) => dnsLookup(host, { verbatim: true }));
  const settings = { count: opts.count, timeoutMs: opts.timeoutMs, intervalMs: opts.intervalMs ?? Math.min(200, opts.timeoutMs), now };
  const load = (opts.load ?? loadIcmpEchoAddon)();
  const socketOptions = { receiveBufferBytes: opts.receiveBufferBytes ?? 4 << 20, seqsPerSocket: opts.seqsPerSocket ?? 49_152 };
  const sender = load.ok ? new EchoSender(load.addon, opts.sendChunk ?? 256) : undefined;
  const intervals = new DeadlineQueue<EchoCheck>(settings.intervalMs);
  // "No reply" is a verdict against the device: a reply already waiting in a socket after a stall counts first.
  const silences = new DeadlineQueue<EchoCheck>(settings.timeoutMs, undefined, undefined, { judgeAfterPoll: true });
  const context = sender ? checkContext(settings, sender, intervals, silences) : undefined;
  const families = new Map<IpFamily, ChosenSockets | EchoSocketRefused>();
  // Checks that start together share one budget signal (check-device.ts): one listener and one
  // CheckGroup per signal, not per check; consecutive checks nearly always bring the same signal.
  const groups = new WeakMap<AbortSignal, CheckGroup>();
  let lastSignal: AbortSignal | undefined;
  let lastGroup: CheckGroup | undefined;

  const socketsFor = (family: IpFamily): ChosenSockets | EchoSocketRefused => {
    let chosen = families.get(family);
    if (!chosen && load.ok) {
      try {
        chosen = openEchoSockets(load.addon, family, opts.sockets ?? 'auto', socketOptions, opts.facts);
      } catch (err) {
        chosen = err instanceof EchoSocketRefused ? err : new EchoSocketRefused(String(err), false);
      }
      families.set(family, chosen);
    }
    return chosen!;
  };

  const groupOf = (signal: AbortSignal): CheckGroup => {
    if (signal === lastSignal) return lastGroup!;
    let group = groups.get(signal);
    if (!group) {
      const created = (group = new CheckGroup());
      groups.set(signal, created);
      signal.addEventListener('abort', () => created.abort(), { once: true });
    }
    lastSignal = signal;
    lastGroup = group;
    return group;
  };

  // The promise's executor hands its resolve function over here: no closure per check.
  let captured: ((result: ProbeResult) => void) | undefined;
  const capture = (resolve: (result: ProbeResult) => void) => {
    captured = resolve;
  };

  const check = (v4: number, v6: Buffer | undefined, where: Where, started: number, signal: AbortSignal): Promise<ProbeResult> => {
    const chosen = socketsFor(v6 ? 6 : 4);
    if (chosen instanceof EchoSocketRefused) {
      return Promise.resolve(probeFault(chosen.notPermitted ? 'icmp-not-permitted' : 'socket', where, chosen.message, Math.round(now() - started)));
    }
    const promise = new Promise<ProbeResult>(capture);
    new EchoCheck(context!, chosen.pool, v4, v6, started, captured!, groupOf(signal)).start();
    captured = undefined;
    return promise;
  };

  const checkBytes = (bytes: Buffer, where: Where, started: number, signal: AbortSignal) =>
    bytes.length === 4 ? check(bytes.readUInt32BE(0), undefined, where, started, signal) : check(-1, bytes, where, started, signal);

  /** A hostname: resolved first (the resolver's answer may be IPv4 or IPv6). */
  const checkName = async (host: string, where: Where, started: number, signal: AbortSignal): Promise<ProbeResult> => {
    const fail = (f: Fault) => probeFault(f.kind, where, f.detail, Math.round(now() - started));
    if (isIP(host)) return fail({ kind: 'socket', detail: `the native engine cannot address ${host} (a zoned IPv6 address)` });
    const resolved = await resolve(lookup, host);
    if ('fault' in resolved) return fail(resolved.fault);
    if ('down' in resolved) return { ...resolved.down, durationMs: Math.round(now() - started) };
    if (signal.aborted) return fail({ kind: 'aborted', detail: 'aborted while resolving the name' });
    return checkBytes(resolved.bytes, where, started, signal);
  };

  return {
    kind: 'icmp',
    // Not async: an IP literal (nearly every device) goes straight to its check's promise.
    run(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
      const started = now();
      const where: Where = { probe: 'icmp', deviceId: target.deviceId };
      if (!load.ok) return Promise.resolve(probeFault('addon-missing', where, load.reason, 0));
      if (signal.aborted) return Promise.resolve(probeFault('aborted', where, 'aborted before the first echo request', 0));
      const v4 = parseIPv4(target.address);
      if (v4 >= 0) return check(v4, undefined, where, started, signal);
      const address = addressBytes(target.address);
      return address ? checkBytes(address, where, started, signal) : checkName(target.address, where, started, signal);
    },
    sockets() {
      const reports: EchoSocketReport[] = [];
      for (const [family, chosen] of families) {
        if (!(chosen instanceof EchoSocketRefused)) reports.push({ family, kind: chosen.pool.kind, why: chosen.why, sockets: chosen.pool.describe() });
      }
      return reports;
    },
    async close() {
      for (const chosen of families.values()) {
        if (chosen instanceof EchoSocketRefused) continue;
        for (const echo of chosen.pool.waiting()) {
          if (echo instanceof EchoCheck) echo.settle({ kind: 'icmp', outcome: 'error', reason: 'aborted', detail: 'probe closed', durationMs: 0 });
        }
      }
      intervals.clear();
      silences.clear();
      sender?.clear();
      for (const chosen of families.values()) if (!(chosen instanceof EchoSocketRefused)) chosen.pool.close();
      families.clear();
    },
  };
}

async function resolve(
  lookup: (host: string) => Promise<{ address: string; family: number }>,
  host: string,
): Promise<{ bytes: Buffer } | { down: Outcome } | { fault: Fault }> {
  try {
    const { address } = await lookup(host);
    const bytes = addressBytes(address);
    return bytes ? { bytes } : { fault: { kind: 'dns-failure', detail: `${host} resolved to ${address}, which the native engine cannot address` } };
  } catch (err) {
    const code = systemErrorCode(err);
    if (code === 'ENOTFOUND' || code === 'ENODATA') return { down: { kind: 'icmp', outcome: 'down', reason: 'unresolvable', detail: 'name does not resolve' } };
    return { fault: { kind: 'dns-failure', detail: `resolving ${host} failed: ${code ?? 'unknown error'}` } };
  }
}
