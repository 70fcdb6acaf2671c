import type { IcmpEngine } from '../config/types.js';
import { checkIcmpPermission, type IcmpPermission } from './icmp-permission.js';
import type { Probe } from './types.js';

export interface UsableIcmp {
  probe: Probe;
  engine: IcmpEngine;
  permission: IcmpPermission;
  /** Set when the configured engine failed its start-up check and the other one passed. */
  fellBack?: { from: IcmpEngine; reason: string; hint: string };
}

const PING_COST = 'meanwhile each check spawns a ping process (~3 ms of CPU): keep worker.concurrency near 100 and expect about 20,000 devices a minute per 2 cores.';

const FPING_DGRAM_HINT =
  'fping before 5.2 cannot read replies on ICMP datagram sockets (the kernel rewrites the echo identifier and fping drops ' +
  'every reply as not its own: schweikert/fping#248; Debian 12 and 13 ship 5.1). That is the socket it gets under ' +
  'net.ipv4.ping_group_range when its cap_net_raw is ignored (systemd NoNewPrivileges=, Kubernetes allowPrivilegeEscalation: false). ' +
  `Install fping 5.2 or later, or run it with a usable cap_net_raw, to get the fping engine back; ${PING_COST}`;

/**
 * Checks the configured ICMP engine against 127.0.0.1 once at start-up. When fping fails where
 * `ping` works, the worker checks with `ping` instead and says why. The case that matters most:
 * fping that runs but hears nothing (FPING_DGRAM_HINT) would report every device `down`. An
 * fping the kernel will not even start (EPERM: its file capability exceeds the bounding set, as
 * under Kubernetes' `drop: [ALL]`) or that is missing would leave ICMP an error everywhere.
 */
export async function usableIcmpProbe(engine: IcmpEngine, build: (engine: IcmpEngine) => Probe): Promise<UsableIcmp> {
  const probe = build(engine);
  const permission = await checkIcmpPermission({ probe });
  if (permission.ok || engine !== 'fping') return { probe, engine, permission };
  const ping = build('ping');
  if (!(await checkIcmpPermission({ probe: ping })).ok) {
    await ping.close?.();
    return { probe, engine, permission };
  }
  await probe.close?.();
  const hint = permission.kind === 'no-reply' ? FPING_DGRAM_HINT : `${permission.hint}; ${PING_COST}`;
  return { probe: ping, engine: 'ping', permission: { ok: true }, fellBack: { from: engine, reason: permission.reason, hint } };
}
