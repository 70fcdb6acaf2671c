import type snmp from 'net-snmp';
import { STALL_TOLERANCE_MS } from './stall.js';
import { armRequestTimer, replaceRequestTimer, type SnmpRequest } from './net-snmp-adapter.js';

/**
 * Late answers are not missing answers.
 *
 * net-snmp decides "timed out" from a timer. When this process's event loop stalls (CPU
 * starved, a GC pause, a burst of work), the answers that arrive meanwhile wait in the socket's
 * receive buffer, and libuv runs due timers *before* it reads sockets, at most 32 datagrams per
 * socket per turn. Every request whose timer came due during the stall would then time out with
 * its answer already on this host: a healthy device counted Down because the prober was busy.
 *
 * So a due timer does not decide at once:
 * - fired on time: the verdict waits one turn of the loop (setImmediate runs after the poll
 *   phase, so an answer already in the buffer is read first);
 * - fired late (the loop stalled longer than `stallToleranceMs`): it waits as long again, so the
 *   loop can drain what piled up, and asks the same question then. A process that stays
 *   starved never reaches a timeout verdict; the check's time budget ends the probe as a
 *   prober-side error instead, which never counts against the device.
 */
export interface TimeoutOptions {
  now?: () => number;
  stallToleranceMs?: number;
}


/** Makes `session` judge its request timeouts as above; returns the same session. */
export function judgeTimeoutsAfterStalls<S extends snmp.Session>(session: S, opts: TimeoutOptions = {}): S {
  const now = opts.now ?? (() => performance.now());
  const tolerance = opts.stallToleranceMs ?? STALL_TOLERANCE_MS;
  replaceRequestTimer(session, (req, delayMs, expire) => waitOut(req, delayMs, expire, now, tolerance));
  return session;
}

/** Arms the request's timer, re-armed as long as the loop keeps stalling. */
function waitOut(req: SnmpRequest, delayMs: number, expire: () => void, now: () => number, tolerance: number): void {
  const due = now() + delayMs;
  armRequestTimer(req, delayMs, () => {
    const late = now() - due;
    if (late > tolerance) waitOut(req, late, expire, now, tolerance);
    else setImmediate(expire);
  });
}
