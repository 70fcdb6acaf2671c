import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { constants } from 'node:os';
import { ProbeError, systemErrorCode } from './errors.js';
import { addressBytes, loadIcmpEchoAddon, type AddonLoad, type EchoRecord, type IpFamily } from './icmp-echo-addon.js';
import { EchoSender, type EchoSocket } from './icmp-echo-sockets.js';
import { describeIcmpError } from './icmp-errors.js';
import { EchoSocketRefused, openEchoSockets, type ChosenSockets, type PermissionFacts, type SocketPreference } from './icmp-socket-kind.js';
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
  /** The sockets opened so far (one family opens at its first check). */
  sockets(): EchoSocketReport[];
}

type Where = { probe: 'icmp'; deviceId: number };
type Outcome = Omit<ProbeResult, 'durationMs'>;

/**
 * ICMP from inside the process (native/icmp_echo.c): no helper binary and, on a datagram
 * socket, no privilege. Same results as the other engines: `count` requests `intervalMs` apart,
 * the first reply settles the check as up, an ICMP error (unreachable, prohibited) settles it
 * as down at once with that reason, and no answer `timeoutMs` after the last request is down
 * `no-reply`. Prober faults (no socket permission, addon missing) are `error`.
 */
export function createNativeIcmpProbe(opts: NativeIcmpOptions): NativeIcmpProbe {
  const now = opts.now ?? (() => performance.now());
  const lookup = opts.lookup ?? ((host: string) => dnsLookup(host, { verbatim: true }));
  const intervalMs = opts.intervalMs ?? Math.min(200, opts.timeoutMs);
  const load = (opts.load ?? loadIcmpEchoAddon)();
  const socketOptions = { receiveBufferBytes: opts.receiveBufferBytes ?? 4 << 20, seqsPerSocket: opts.seqsPerSocket ?? 49_152 };
  const sender = load.ok ? new EchoSender(load.addon, opts.sendChunk ?? 256) : undefined;
  const families = new Map<IpFamily, ChosenSockets | EchoSocketRefused>();
  const live = new Set<(result: Outcome) => void>();

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

  const check = (address: Buffer, family: IpFamily, where: Where, started: number, signal: AbortSignal) =>
    new Promise<ProbeResult>((resolve) => {
      const chosen = socketsFor(family);
      if (chosen instanceof EchoSocketRefused) {
        const kind = chosen.notPermitted ? 'icmp-not-permitted' : 'socket';
        resolve(new ProbeError(kind, where, chosen.message).toResult(Math.round(now() - started)));
        return;
      }
      const held: { socket: EchoSocket; seq: number }[] = [];
      let sent = 0;
      let settled = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = (result: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        live.delete(settle);
        for (const { socket, seq } of held) socket.release(seq);
        resolve({ ...result, durationMs: Math.round(now() - started) });
      };
      const onAbort = () => settle(new ProbeError('aborted', where, 'ICMP check stopped: time budget spent').toResult(0));
      const onRecord = (record: EchoRecord, request: number) => {
        if (record.kind === 'reply') settle({ kind: 'icmp', outcome: 'up', reason: 'ok', detail: `reply to request ${request} of ${opts.count}`, rttMs: record.rttMs });
        else settle({ kind: 'icmp', outcome: 'down', ...describeIcmpError(family, record) });
      };
      const onSent = (errno: number) => {
        if (errno !== 0) return settle(sendFailure(errno, where));
        sent++;
        clearTimeout(timer);
        timer =
          sent < opts.count
            ? setTimeout(sendNext, intervalMs)
            : setTimeout(() => settle({ kind: 'icmp', outcome: 'down', reason: 'no-reply', detail: `0/${opts.count} replies` }), opts.timeoutMs);
      };
      const sendNext = () => {
        if (settled) return;
        const request = held.length + 1;
        try {
          const slot = chosen.pool.register({ address, onRecord: (record) => onRecord(record, request) });
          held.push(slot);
          sender!.enqueue({ ...slot, address, live: () => !settled, onSent });
        } catch (err) {
          // Every socket of the pool full and the kernel refused one more (EMFILE…).
          settle(new ProbeError('socket', where, `could not open another ICMP socket: ${(err as Error).message}`).toResult(0));
        }
      };
      live.add(settle);
      signal.addEventListener('abort', onAbort, { once: true });
      sendNext();
    });

  return {
    kind: 'icmp',
    async run(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
      const started = now();
      const where: Where = { probe: 'icmp', deviceId: target.deviceId };
      const fail = (err: ProbeError) => err.toResult(Math.round(now() - started));
      if (!load.ok) return fail(new ProbeError('addon-missing', where, load.reason));
      if (signal.aborted) return fail(new ProbeError('aborted', where, 'aborted before the first echo request'));
      let address = addressBytes(target.address);
      if (!address) {
        if (isIP(target.address)) return fail(new ProbeError('socket', where, `the native engine cannot address ${target.address} (a zoned IPv6 address)`));
        const resolved = await resolve(lookup, target.address, where);
        if (resolved instanceof ProbeError) return fail(resolved);
        if ('down' in resolved) return { ...resolved.down, durationMs: Math.round(now() - started) };
        address = resolved.bytes;
        if (signal.aborted) return fail(new ProbeError('aborted', where, 'aborted while resolving the name'));
      }
      return check(address, address.length === 4 ? 4 : 6, where, started, signal);
    },
    sockets() {
      const reports: EchoSocketReport[] = [];
      for (const [family, chosen] of families) {
        if (!(chosen instanceof EchoSocketRefused)) reports.push({ family, kind: chosen.pool.kind, why: chosen.why, sockets: chosen.pool.describe() });
      }
      return reports;
    },
    async close() {
      for (const settle of [...live]) settle({ kind: 'icmp', outcome: 'error', reason: 'aborted', detail: 'probe closed' });
      sender?.clear();
      for (const chosen of families.values()) if (!(chosen instanceof EchoSocketRefused)) chosen.pool.close();
      families.clear();
    },
  };
}

async function resolve(
  lookup: (host: string) => Promise<{ address: string; family: number }>,
  host: string,
  where: Where,
): Promise<{ bytes: Buffer } | { down: Outcome } | ProbeError> {
  try {
    const { address } = await lookup(host);
    const bytes = addressBytes(address);
    return bytes ? { bytes } : new ProbeError('dns-failure', where, `${host} resolved to ${address}, which the native engine cannot address`);
  } catch (err) {
    const code = systemErrorCode(err);
    if (code === 'ENOTFOUND' || code === 'ENODATA') return { down: { kind: 'icmp', outcome: 'down', reason: 'unresolvable', detail: 'name does not resolve' } };
    return new ProbeError('dns-failure', where, `resolving ${host} failed: ${code ?? 'unknown error'}`, { cause: err });
  }
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The kernel refused one request: no route is the device's (network's) fact; anything else is ours. */
function sendFailure(errno: number, where: Where): Outcome {
  const name = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
  if (name === 'ENETUNREACH' || name === 'EHOSTUNREACH') return { kind: 'icmp', outcome: 'down', reason: 'unreachable', detail: `no route (${name})` };
  const kind = name === 'EPERM' || name === 'EACCES' ? 'icmp-not-permitted' : 'socket';
  return new ProbeError(kind, where, `sending the echo request failed: ${name}`).toResult(0);
}
