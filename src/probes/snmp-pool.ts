import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import snmp from 'net-snmp';
import { abandonRequest, addressNextGet, renumberRequest, requestIdTaken, sendEachRequestToItsTarget, type SnmpRequest } from './net-snmp-adapter.js';
import { closeSession, perProbeSessions, type SnmpSessionSource } from './snmp.js';
import { judgeTimeoutsAfterStalls } from './snmp-timeouts.js';
import type { SnmpCredentials } from './types.js';

export interface SharedSessionOptions {
  port: number;
  timeoutMs: number;
  retries: number;
  /** GETs on the wire at once across every target; the rest wait in a queue, first come first served. */
  maxInFlight?: number;
  /** Receive buffer asked of the kernel per socket, so a burst of answers is not dropped. */
  recvBufferBytes?: number;
  /** Where SNMPv3 sessions come from; default one per probe (see below). */
  v3Sessions?: SnmpSessionSource;
}

export interface SharedSnmpSessions extends SnmpSessionSource {
  close(): Promise<void>;
  stats(): { inFlight: number; queued: number; sockets: number };
}

type Community = Extract<SnmpCredentials, { version: '1' | '2c' }>;
type GetCallback = (error: Error | null, varbinds?: snmp.Varbind[]) => void;

/** One GET through the shared socket; the probe sees it as a session (it only calls `get`). */
class SharedGet {
  state: 'idle' | 'queued' | 'sent' | 'done' = 'idle';
  req?: SnmpRequest;
  session?: snmp.Session;
  oids: string[] = [];
  callback: GetCallback = () => {};

  constructor(
    readonly address: string,
    readonly credentials: Community,
    private readonly pool: { submit(get: SharedGet): void },
  ) {}

  get(oids: string[], callback: GetCallback): this {
    this.oids = oids;
    this.callback = callback;
    this.pool.submit(this);
    return this;
  }
}

/**
 * v1/v2c GETs to every target through ONE net-snmp session (one UDP socket) per address family.
 *
 * Why this is sound with net-snmp's Session, which is built for one agent:
 * - `get` builds the message from `session.version` / `session.community` and sends to
 *   `session.target` synchronously, so setting them right before the call addresses that GET;
 * - retries re-send the already encoded message through `session.send`, which we wrap to send
 *   each request to the target it was first sent to;
 * - answers are matched to requests by request id alone (community and version are checked per
 *   request), so one socket serves any number of agents. Random ids could collide across
 *   targets; we re-number a request whose id is taken before it leaves.
 *
 * SNMPv3 cannot share a session: it holds one agent's engine id, boots and time. Those GETs go
 * through `v3Sessions` (per probe by default).
 */
export function sharedSessions(opts: SharedSessionOptions): SharedSnmpSessions {
  const maxInFlight = opts.maxInFlight ?? 1000;
  const v3 = opts.v3Sessions ?? perProbeSessions(opts);
  const sessions = new Map<'udp4' | 'udp6', snmp.Session>();
  const queue: SharedGet[] = [];
  const ids = new Set<number>();
  let inFlight = 0;
  let closed = false;
  let sending: SharedGet | undefined;

  const sessionFor = (address: string) => {
    const transport = isIPv6(address) ? 'udp6' : 'udp4';
    let session = sessions.get(transport);
    if (!session) {
      const opened = openSession(transport, opts);
      sendEachRequestToItsTarget(opened, (req) => {
        claimUniqueId(req, opened, ids);
        if (sending) sending.req = req;
      });
      sessions.set(transport, (session = opened));
    }
    return session;
  };

  const dispatch = (get: SharedGet) => {
    const session = sessionFor(get.address);
    inFlight++;
    get.state = 'sent';
    get.session = session;
    addressNextGet(session, get.address, get.credentials.version, get.credentials.community);
    sending = get;
    try {
      session.get(get.oids, (error, varbinds) => done(get, error, varbinds));
    } finally {
      sending = undefined;
    }
  };

  const done = (get: SharedGet, error: Error | null, varbinds?: snmp.Varbind[]) => {
    if (get.state !== 'sent') return; // released or closed before the answer
    settle(get);
    get.callback(error, varbinds);
  };

  /** Frees the request's slot and id, and lets the next queued GET go. */
  const settle = (get: SharedGet) => {
    get.state = 'done';
    inFlight--;
    if (get.req) ids.delete(get.req.getId());
    pump();
  };

  const pump = () => {
    while (!closed && inFlight < maxInFlight && queue.length > 0) {
      const next = queue.shift() as SharedGet;
      if (next.state === 'queued') dispatch(next);
    }
  };

  const pool = {
    submit(get: SharedGet) {
      if (closed) return get.callback(closedError());
      get.state = 'queued';
      queue.push(get);
      pump();
    },
  };

  return {
    open(address, credentials) {
      if (closed) throw closedError();
      if (credentials.version === '3') return v3.open(address, credentials);
      return new SharedGet(address, credentials, pool) as unknown as snmp.Session;
    },
    async release(session) {
      if (!(session instanceof SharedGet)) return v3.release(session);
      if (session.state === 'queued') session.state = 'done'; // skipped when its turn comes
      if (session.state !== 'sent') return;
      // Abandoned (the caller's budget ran out): stop its retries and free the slot now.
      if (session.req && session.session) abandonRequest(session.session, session.req);
      settle(session);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const get of queue.splice(0)) {
        if (get.state !== 'queued') continue;
        get.state = 'done';
        get.callback(closedError());
      }
      // Closing a session fails its outstanding requests ("Socket forcibly closed").
      await Promise.all([...sessions.values()].map((session) => closeSession(session)));
      sessions.clear();
      await v3.close?.();
    },
    stats: () => ({ inFlight, queued: queue.filter((g) => g.state === 'queued').length, sockets: sessions.size }),
  };
}

function openSession(transport: 'udp4' | 'udp6', opts: SharedSessionOptions): snmp.Session {
  const recvBufferSize = opts.recvBufferBytes ?? 4 * 1024 * 1024;
  // Node applies recvBufferSize when the socket binds (on its first send).
  const dgramModule = { createSocket: (type: dgram.SocketType) => dgram.createSocket({ type, recvBufferSize }) };
  const session = judgeTimeoutsAfterStalls(snmp.createSession(transport === 'udp6' ? '::1' : '127.0.0.1', 'unused', {
    port: opts.port,
    timeout: opts.timeoutMs,
    retries: opts.retries,
    backoff: 1,
    transport,
    version: snmp.Version2c,
    dgramModule,
  }));
  // An undecodable datagram is emitted as 'error'; without a listener it would crash the worker.
  session.on('error', () => {});
  return session;
}

/** Gives `req` a request id no other outstanding request of this socket has. */
function claimUniqueId(req: SnmpRequest, session: snmp.Session, ids: Set<number>): void {
  while (ids.has(req.getId()) || requestIdTaken(session, req.getId())) renumberRequest(req, 1 + Math.floor(Math.random() * 0x7ffffffe));
  ids.add(req.getId());
}

/** Shaped like Node's error for a closed socket, so the probe reports a local socket fault. */
const closedError = (): Error => Object.assign(new Error('shared SNMP session is closed'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
