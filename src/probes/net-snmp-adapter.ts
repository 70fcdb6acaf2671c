import { createRequire } from 'node:module';
import snmp from 'net-snmp';
import { ProberError } from '../errors.js';

/**
 * The one module that touches net-snmp's private members (its Session and Req internals, as of
 * net-snmp 3.29.2, which package.json pins exactly). The shared-socket engine (snmp-pool.ts), the
 * stall-tolerant timeouts (snmp-timeouts.ts) and the USM report hook (snmp.ts) go through the
 * operations below; `assertNetSnmpInternals` checks at start-up that every member they need is
 * there, and test/integration/net-snmp-contract.test.ts checks that each does what we rely on.
 * Before raising the pin, run that test against the new release.
 */

/** The installed release, named in the start-up error when the internals moved. */
export const NET_SNMP_VERSION = (createRequire(import.meta.url)('net-snmp/package.json') as { version: string }).version;

/** A request in flight as net-snmp keeps it (its `Req`), plus our `target`. */
export interface SnmpRequest {
  getId(): number;
  message: { pdu: { id: number }; buffer?: Buffer; toBuffer(): Buffer };
  timer?: ReturnType<typeof setTimeout>;
  timeout: number;
  backoff?: number;
  retries: number;
  responseCb(error: Error | null): void;
  /** Ours: the agent this request (and each of its retries) goes to. */
  target?: string;
}

interface SessionInternals {
  target: string;
  version: number;
  community: string;
  reqs: Record<number, SnmpRequest | undefined>;
  reqCount: number;
  dgram: { ref(): void; unref(): void };
  send(req: SnmpRequest, noWait?: boolean): unknown;
  registerRequest(req: SnmpRequest): void;
  unregisterRequest(id: number): unknown;
  userSecurityModelError(req: SnmpRequest, oid: string): void;
}

const internalsOf = (session: snmp.Session) => session as unknown as SessionInternals;

// Value exports that @types/net-snmp declares only as interfaces (public, but untyped).
const lib = snmp as unknown as {
  RequestTimedOutError: new (message: string) => Error;
  RequestInvalidError: new (message: string) => Error;
};
export const RequestTimedOutError = lib.RequestTimedOutError;
export const RequestInvalidError = lib.RequestInvalidError;

/** Points the session's next GET at `target` with these v1/v2c credentials: `get` reads them when it builds and sends. */
export function addressNextGet(session: snmp.Session, target: string, version: '1' | '2c', community: string): void {
  const s = internalsOf(session);
  s.target = target;
  s.version = version === '1' ? snmp.Version1 : snmp.Version2c;
  s.community = community;
}

/**
 * Makes every send of a request, retries included, go to the target it was first sent to.
 * `onFirstSend` sees each request once, before it leaves, with `target` set.
 */
export function sendEachRequestToItsTarget(session: snmp.Session, onFirstSend: (req: SnmpRequest) => void): void {
  const s = internalsOf(session);
  const send = s.send;
  s.send = (req, noWait) => {
    if (req.target === undefined) {
      req.target = s.target;
      onFirstSend(req);
    }
    s.target = req.target;
    return send.call(s, req, noWait);
  };
}

/** True when the session still waits for an answer to another request with this id. */
export const requestIdTaken = (session: snmp.Session, id: number): boolean => internalsOf(session).reqs[id] !== undefined;

/** Gives an unsent request a new id; net-snmp caches the encoded message, so the cache goes too. */
export function renumberRequest(req: SnmpRequest, id: number): void {
  req.message.pdu.id = id;
  req.message.buffer = undefined;
}

/** Stops an outstanding request's retries and timer without answering it; false when it was not outstanding. */
export function abandonRequest(session: snmp.Session, req: SnmpRequest): boolean {
  const s = internalsOf(session);
  if (s.reqs[req.getId()] !== req) return false;
  s.unregisterRequest(req.getId());
  return true;
}

/**
 * Replaces how the session times out its requests. Where net-snmp would `setTimeout(expire,
 * req.timeout)`, `wait(req, delayMs, expire)` is called; every timer it arms must go through
 * armRequestTimer, so net-snmp's unregisterRequest (an answer, an abandon) clears it. The bookkeeping
 * around it is net-snmp's registerRequest unchanged; `expire` ignores a request answered or
 * abandoned meanwhile, re-sends while retries remain, then fails it with RequestTimedOutError.
 */
export function replaceRequestTimer(session: snmp.Session, wait: (req: SnmpRequest, delayMs: number, expire: () => void) => void): void {
  internalsOf(session).registerRequest = function registerRequest(this: SessionInternals, req: SnmpRequest) {
    if (!this.reqs[req.getId()]) {
      this.reqs[req.getId()] = req;
      if (this.reqCount <= 0) this.dgram.ref();
      this.reqCount++;
    }
    const expire = () => {
      if (this.reqs[req.getId()] !== req) return;
      if (req.retries-- > 0) {
        this.send(req);
        return;
      }
      this.unregisterRequest(req.getId());
      req.responseCb(new RequestTimedOutError('Request timed out'));
    };
    wait(req, req.timeout, expire);
    if (req.backoff && req.backoff >= 1) req.timeout *= req.backoff;
  };
}

/** Arms a request's timer where net-snmp keeps it (`req.timer`), so its unregisterRequest clears it. */
export function armRequestTimer(req: SnmpRequest, delayMs: number, fire: () => void): void {
  req.timer = setTimeout(fire, delayMs);
}

/**
 * net-snmp turns a USM report PDU into text only; this hands its OID to `toError` instead, so
 * the reason can come from the OID.
 */
export function onUsmReport(session: snmp.Session, toError: (oid: string) => Error): void {
  internalsOf(session).userSecurityModelError = (req, oid) => req.responseCb(toError(oid));
}

/** The installed net-snmp lacks a member this adapter relies on: upgrade or downgrade to the pinned release. */
export class NetSnmpContractError extends ProberError {
  readonly kind = 'net-snmp-contract';
  readonly retryable = false;

  constructor(
    readonly version: string,
    readonly missing: string[],
  ) {
    super(
      `net-snmp ${version} lacks the internals inventory-prober's SNMP engines rely on (${missing.join(', ')}); ` +
        'install the version package.json pins (npm ci), or check src/probes/net-snmp-adapter.ts against the new release',
    );
  }
}

/**
 * Names every member this adapter needs that the given library lacks. Fully offline: a session is
 * created, its first GET is caught before it reaches the socket, and the session is closed.
 */
export function missingNetSnmpInternals(library: typeof snmp = snmp): string[] {
  const missing: string[] = [];
  const need = (ok: boolean, name: string) => {
    if (!ok) missing.push(name);
  };
  const values = library as unknown as Record<string, unknown>;
  need(typeof values.RequestTimedOutError === 'function', 'RequestTimedOutError');
  need(typeof values.RequestInvalidError === 'function', 'RequestInvalidError');
  const session = library.createSession('127.0.0.1', 'contract-check', { version: library.Version2c, port: 9 });
  session.on('error', () => {});
  try {
    const s = internalsOf(session);
    for (const name of ['send', 'registerRequest', 'unregisterRequest', 'userSecurityModelError'] as const) need(typeof s[name] === 'function', `Session.${name}`);
    need(typeof s.reqs === 'object' && s.reqs !== null, 'Session.reqs');
    need(typeof s.reqCount === 'number', 'Session.reqCount');
    need(typeof s.dgram?.ref === 'function' && typeof s.dgram?.unref === 'function', 'Session.dgram');
    need(s.target === '127.0.0.1', 'Session.target');
    need(s.community === 'contract-check', 'Session.community');
    need(s.version === library.Version2c, 'Session.version');
    if (typeof s.send !== 'function') return missing;
    let caught: SnmpRequest | undefined;
    s.send = (req) => (caught = req); // the GET never leaves this process
    session.get(['1.3.6.1.2.1.1.3.0'], () => {});
    need(caught !== undefined, 'Session.get → send(req)');
    if (!caught) return missing;
    need(typeof caught.getId === 'function' && caught.getId() === caught.message?.pdu?.id, 'Req.getId = message.pdu.id');
    need(typeof caught.timeout === 'number', 'Req.timeout');
    need(typeof caught.retries === 'number', 'Req.retries');
    need(typeof caught.responseCb === 'function', 'Req.responseCb');
    need(typeof caught.message?.toBuffer === 'function' && caught.message.toBuffer() === caught.message.buffer, 'Req.message.buffer (encoding cache)');
    return missing;
  } finally {
    try {
      session.close();
    } catch {
      // never bound: nothing to close
    }
  }
}

let checked = false;

/** The start-up check: throws NetSnmpContractError naming the installed version and what is missing. */
export function assertNetSnmpInternals(): void {
  if (checked) return;
  const missing = missingNetSnmpInternals();
  if (missing.length > 0) throw new NetSnmpContractError(NET_SNMP_VERSION, missing);
  checked = true;
}
