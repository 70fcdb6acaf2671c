import snmp from 'net-snmp';

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

export const STALL_TOLERANCE_MS = 25;

// The slice of net-snmp's Session and Req internals this relies on (net-snmp 3.29:
// Session.prototype.registerRequest, which this replaces per session, keeps the same bookkeeping).
interface TimedReq {
  getId(): number;
  timer?: ReturnType<typeof setTimeout>;
  timeout: number;
  backoff?: number;
  retries: number;
  responseCb(error: Error | null): void;
}
interface SessionInternals {
  reqs: Record<number, TimedReq | undefined>;
  reqCount: number;
  dgram: { ref(): void; unref(): void };
  send(req: TimedReq): unknown;
  unregisterRequest(id: number): unknown;
  registerRequest(req: TimedReq): void;
}

const RequestTimedOutError = (snmp as unknown as { RequestTimedOutError: new (message: string) => Error }).RequestTimedOutError;

/** Makes `session` judge its request timeouts as above; returns the same session. */
export function judgeTimeoutsAfterStalls<S extends snmp.Session>(session: S, opts: TimeoutOptions = {}): S {
  const now = opts.now ?? (() => performance.now());
  const tolerance = opts.stallToleranceMs ?? STALL_TOLERANCE_MS;
  const internals = session as unknown as SessionInternals;
  internals.registerRequest = function registerRequest(this: SessionInternals, req: TimedReq) {
    if (!this.reqs[req.getId()]) {
      this.reqs[req.getId()] = req;
      if (this.reqCount <= 0) this.dgram.ref();
      this.reqCount++;
    }
    const expire = () => {
      if (this.reqs[req.getId()] !== req) return; // answered, or abandoned, while the verdict waited
      if (req.retries-- > 0) {
        this.send(req);
        return;
      }
      this.unregisterRequest(req.getId());
      req.responseCb(new RequestTimedOutError('Request timed out'));
    };
    waitOut(req, req.timeout, expire, now, tolerance);
    if (req.backoff && req.backoff >= 1) req.timeout *= req.backoff;
  };
  return session;
}

/** Arms the request's timer (kept on `req.timer`, so net-snmp's unregisterRequest clears it). */
function waitOut(req: TimedReq, delayMs: number, expire: () => void, now: () => number, tolerance: number): void {
  const due = now() + delayMs;
  req.timer = setTimeout(() => {
    const late = now() - due;
    if (late > tolerance) waitOut(req, late, expire, now, tolerance);
    else setImmediate(expire);
  }, delayMs);
}
