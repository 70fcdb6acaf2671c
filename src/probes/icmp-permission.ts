import { readFile } from 'node:fs/promises';
import { createIcmpProbe } from './icmp.js';
import type { Probe } from './types.js';

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
