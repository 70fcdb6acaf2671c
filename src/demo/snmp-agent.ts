import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import snmp from 'net-snmp';
import type { SnmpAuthProtocol, SnmpPrivProtocol } from '../config/types.js';

const TICKS_WRAP = 2 ** 32;

export interface SnmpAgentV3User {
  name: string;
  authProtocol: SnmpAuthProtocol;
  authKey: string;
  privProtocol: SnmpPrivProtocol;
  privKey: string;
}

export interface SnmpAgentOptions {
  /** The one address to bind, e.g. 127.0.0.1 or 127.0.5.3. */
  address: string;
  /** 0 or absent: a free port chosen by the kernel; read it back from `port`. */
  port?: number;
  /** Accepted v1/v2c community. Defaults to `public` unless only a v3 user is given. */
  community?: string;
  v3User?: SnmpAgentV3User;
  /** Leave sysUpTime.0 out of the MIB, so GETs get noSuchObject/noSuchName. */
  omitUptime?: boolean;
  /** Clock for sysUpTime (ms); tests freeze it to read exact ticks. */
  now?: () => number;
  /** Socket receive buffer (bytes, capped by net.core.rmem_max): one agent standing in for a fleet takes a fleet's bursts. */
  recvBufferBytes?: number;
}

export interface SnmpAgent {
  readonly port: number;
  readonly address: string;
  /** sysUpTime.0 reads `ticks` now and keeps counting from there (mod 2^32), like a rebooted agent. */
  setUptimeTicks(ticks: number): void;
  /** false: the socket stays bound but every request is dropped, so managers time out. */
  setResponding(responding: boolean): void;
  close(): Promise<void>;
}

interface BoundSocket {
  socket: dgram.Socket;
  ready: Promise<void>;
}

/**
 * A real SNMP agent (net-snmp's Agent over UDP) serving sysUpTime.0, for tests and the demo.
 * One agent binds one address, so a fleet on 127.x.y.z can share the one SNMP port the prober uses.
 */
export async function startSnmpAgent(opts: SnmpAgentOptions): Promise<SnmpAgent> {
  const now = opts.now ?? Date.now;
  let base = { ticks: 0, atMs: now() };
  let responding = true;
  const uptimeTicks = () => Math.floor(base.ticks + (now() - base.atMs) / 10) % TICKS_WRAP;

  const bound = bindingSocketModule(opts.port ?? 0);
  const agent = snmp.createAgent(
    // `port` here only names the socket; the bind override above decides which port is bound.
    { address: opts.address, port: opts.port ?? 0, transport: isIPv6(opts.address) ? 'udp6' : 'udp4', dgramModule: bound.module },
    () => {}, // per-packet failures (unknown community, bad digest) are expected in tests: the agent just drops them
  );
  const { socket, ready } = bound.take();
  try {
    await ready;
  } catch (err) {
    agent.close();
    throw err;
  }
  if (opts.recvBufferBytes) socket.setRecvBufferSize(opts.recvBufferBytes);
  gateMessages(socket, () => responding);
  authorize(agent, opts);
  if (!opts.omitUptime) serveUptime(agent, uptimeTicks);

  const port = socket.address().port;
  let closed: Promise<void> | undefined;
  return {
    port,
    address: opts.address,
    setUptimeTicks(ticks: number) {
      base = { ticks, atMs: now() };
    },
    setResponding(value: boolean) {
      responding = value;
    },
    close() {
      closed ??= new Promise<void>((resolve) => agent.close(() => resolve()));
      return closed;
    },
  };
}

/**
 * net-snmp's Listener turns port 0 into 161 and reports bind errors only to a callback, so we
 * hand it a dgram module that binds the port we asked for and lets us await `listening`.
 */
function bindingSocketModule(port: number): { module: Pick<typeof dgram, 'createSocket'>; take(): BoundSocket } {
  let created: BoundSocket | undefined;
  const module = {
    createSocket(type: dgram.SocketType): dgram.Socket {
      const socket = dgram.createSocket(type);
      const ready = new Promise<void>((resolve, reject) => {
        socket.once('listening', () => resolve());
        socket.once('error', reject);
      });
      const bind = socket.bind.bind(socket) as (port: number, address?: string) => dgram.Socket;
      socket.bind = ((_ignored: number, address?: string) => bind(port, address)) as typeof socket.bind;
      created = { socket, ready };
      return socket;
    },
  } as Pick<typeof dgram, 'createSocket'>;
  return {
    module,
    take() {
      if (!created) throw new Error('net-snmp agent did not create a socket');
      return created;
    },
  };
}

/** Puts a switch in front of the agent's message handler; dropped requests look like a dead agent. */
function gateMessages(socket: dgram.Socket, isResponding: () => boolean): void {
  const handlers = socket.listeners('message') as ((msg: Buffer, rinfo: dgram.RemoteInfo) => void)[];
  socket.removeAllListeners('message');
  socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    if (!isResponding()) return;
    for (const handler of handlers) handler(msg, rinfo);
  });
}

// The agent object from @types/net-snmp is `any`; this is the slice we use.
interface AgentApi {
  getAuthorizer(): { addCommunity(c: string): void; addUser(u: snmp.User): void };
  getMib(): { registerProvider(p: object): void; setScalarValue(name: string, value: unknown): void };
  close(cb?: () => void): void;
}

function authorize(agent: AgentApi, opts: SnmpAgentOptions): void {
  const authorizer = agent.getAuthorizer();
  const community = opts.community ?? (opts.v3User ? undefined : 'public');
  if (community !== undefined) authorizer.addCommunity(community);
  const user = opts.v3User;
  if (user) {
    authorizer.addUser({
      name: user.name,
      level: snmp.SecurityLevel.authPriv,
      authProtocol: snmp.AuthProtocols[user.authProtocol],
      authKey: user.authKey,
      privProtocol: snmp.PrivProtocols[user.privProtocol],
      privKey: user.privKey,
    });
  }
}

function serveUptime(agent: AgentApi, uptimeTicks: () => number): void {
  const mib = agent.getMib();
  mib.registerProvider({
    name: 'sysUpTime',
    type: snmp.MibProviderType.Scalar,
    oid: '1.3.6.1.2.1.1.3',
    scalarType: snmp.ObjectType.TimeTicks,
    maxAccess: snmp.MaxAccess['read-only'],
    // Computed per request so the value moves with the clock, as a real agent's does.
    handler(request: { instanceNode: { value: unknown }; done(): void }) {
      request.instanceNode.value = uptimeTicks();
      request.done();
    },
  });
  mib.setScalarValue('sysUpTime', 0);
}
