/**
 * Where the pipeline benchmark's unreachable devices live. A network namespace `ipbench-<pid>`
 * joined to the host by a veth pair; the host routes 198.18.0.0/16 (RFC 2544 benchmarking range)
 * to the namespace side, whose forwarding is off, so every packet to those addresses is dropped
 * silently: pings and SNMP GETs run into their timeouts as they would against a dead device.
 *
 * This namespace is the only place outside 127.0.0.0/8 the benchmark sends traffic to. It needs
 * root (CAP_NET_ADMIN); without it the caller falls back to SNMP-silent devices on loopback.
 */
import { spawnSync } from 'node:child_process';

export interface UnreachableNet {
  name: string;
  /** Synchronous, idempotent: safe from an 'exit' handler. */
  remove(): void;
}

const HOST_SIDE = '198.19.255.1/30';
const NS_SIDE = '198.19.255.2/30';
const GATEWAY = '198.19.255.2';
const ROUTED = '198.18.0.0/16';

/** Device `j` of the unreachable share: 198.18.a.b, routed into the namespace. */
export const unreachableAddress = (j: number): string => `198.18.${Math.floor(j / 250) % 250}.${(j % 250) + 1}`;

function ip(args: string[]): { ok: boolean; error: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  return { ok: r.status === 0, error: r.error?.message ?? r.stderr.trim() };
}

/** Creates the namespace, or says why not (then nothing is left behind). */
export function createUnreachableNet(): UnreachableNet | { failed: string } {
  const name = `ipbench-${process.pid}`;
  const host = `ipbh${process.pid}`.slice(0, 15);
  const peer = `ipbn${process.pid}`.slice(0, 15);
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    // Deleting the namespace destroys its veth end, which takes the pair and the route with it.
    ip(['netns', 'del', name]);
    ip(['link', 'del', host]);
  };
  const steps: string[][] = [
    ['netns', 'add', name],
    ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer],
    ['link', 'set', peer, 'netns', name],
    ['addr', 'add', HOST_SIDE, 'dev', host],
    ['link', 'set', host, 'up'],
    ['-n', name, 'addr', 'add', NS_SIDE, 'dev', peer],
    ['-n', name, 'link', 'set', peer, 'up'],
    ['route', 'add', ROUTED, 'via', GATEWAY, 'dev', host],
  ];
  for (const step of steps) {
    const r = ip(step);
    if (!r.ok) {
      remove();
      return { failed: `ip ${step.join(' ')}: ${r.error}` };
    }
  }
  return { name, remove };
}
