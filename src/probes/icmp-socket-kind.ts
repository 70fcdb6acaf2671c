import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import type { EchoSocketKind, IcmpEchoAddon, IpFamily } from './icmp-echo-addon.js';
import { EchoSocket, EchoSocketPool, type EchoSocketOptions } from './icmp-echo-sockets.js';

/** Which ICMP sockets the native engine may open: `auto` tries a datagram socket first, then a raw one. */
export type SocketPreference = 'auto' | EchoSocketKind;

/** The pool a family got, and in words why it is that kind. */
export interface ChosenSockets {
  pool: EchoSocketPool;
  why: string;
}

/** No ICMP socket of any allowed kind: `notPermitted` when the kernel said EACCES/EPERM to each. */
export class EchoSocketRefused extends Error {
  constructor(
    message: string,
    readonly notPermitted: boolean,
  ) {
    super(message);
  }
}

/** What the kernel's decision depends on, read from /proc (injectable for tests). */
export interface PermissionFacts {
  /** net.ipv4.ping_group_range, e.g. [1, 0] (nobody) or [0, 2147483647]. */
  pingGroupRange?: [number, number];
  groups: number[];
  /** CAP_NET_RAW in the effective set (root has it unless dropped). */
  netRaw: boolean;
}

const CAP_NET_RAW = 13n;

export function readPermissionFacts(): PermissionFacts {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  const range = read('/proc/sys/net/ipv4/ping_group_range').trim().split(/\s+/).map(Number);
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(read('/proc/self/status'))?.[1];
  const groups = new Set<number>(process.getegid ? [process.getegid(), ...(process.getgroups?.() ?? [])] : []);
  return {
    ...(range.length === 2 && range.every(Number.isFinite) ? { pingGroupRange: range as [number, number] } : {}),
    groups: [...groups],
    netRaw: capEff !== undefined && ((BigInt(`0x${capEff}`) >> CAP_NET_RAW) & 1n) === 1n,
  };
}

/**
 * Opens the first socket of a family: a datagram socket when `ping_group_range` admits us (the
 * kernel then delivers only our replies to it), else a raw one when we hold CAP_NET_RAW (it sees
 * every ICMP packet on the host, filtered to replies and errors). Says which, and why, so the
 * start-up log answers "why is this a raw socket" without a shell on the host.
 */
export function openEchoSockets(
  addon: IcmpEchoAddon,
  family: IpFamily,
  preference: SocketPreference,
  options: EchoSocketOptions,
  facts: () => PermissionFacts = readPermissionFacts,
): ChosenSockets {
  const refusals: string[] = [];
  let allNotPermitted = true;
  const kinds: EchoSocketKind[] = preference === 'auto' ? ['dgram', 'raw'] : [preference];
  for (const kind of kinds) {
    try {
      const first = new EchoSocket(addon, family, kind, options);
      const pool = new EchoSocketPool(addon, family, kind, options, first);
      return { pool, why: explainChoice(kind, preference, refusals, facts()) };
    } catch (err) {
      const errno = (err as { errno?: number }).errno;
      allNotPermitted &&= errno === constants.errno.EACCES || errno === constants.errno.EPERM;
      refusals.push(`${kind === 'dgram' ? 'datagram' : 'raw'} socket refused (${(err as Error).message})`);
    }
  }
  throw new EchoSocketRefused(`IPv${family}: ${refusals.join('; ')}; ${describeFacts(facts())}`, allNotPermitted);
}

function explainChoice(kind: EchoSocketKind, preference: SocketPreference, refusals: string[], f: PermissionFacts): string {
  if (preference !== 'auto') return `${kind} socket, as configured`;
  if (kind === 'dgram') return `datagram socket: ${describeFacts(f)}`;
  return `raw socket: ${refusals.join('; ')}, and the process holds CAP_NET_RAW (${describeFacts(f)})`;
}

export function describeFacts(f: PermissionFacts): string {
  const range = f.pingGroupRange;
  const groups = f.groups.join(', ') || 'none';
  if (!range) return `net.ipv4.ping_group_range unreadable; groups ${groups}; CAP_NET_RAW ${f.netRaw ? 'held' : 'not held'}`;
  const inside = f.groups.some((g) => g >= range[0] && g <= range[1]);
  return `net.ipv4.ping_group_range "${range[0]} ${range[1]}" ${inside ? 'admits' : 'does not admit'} this process's groups (${groups}); CAP_NET_RAW ${f.netRaw ? 'held' : 'not held'}`;
}
