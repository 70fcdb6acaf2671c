import type { IcmpEngine } from '../config/types.js';
import { checkIcmpPermission, type IcmpPermission } from './icmp.js';
import type { Probe } from './types.js';

export interface UsableIcmp {
  probe: Probe;
  engine: IcmpEngine;
  permission: IcmpPermission;
  /** Set when the configured engine heard nothing from 127.0.0.1 and the other one did. */
  fellBackFrom?: IcmpEngine;
}

export const FPING_DGRAM_HINT =
  'fping before 5.2 cannot read replies on ICMP datagram sockets (the kernel rewrites the echo identifier and fping drops ' +
  'every reply as not its own: schweikert/fping#248; Debian 12 ships 5.1). That is the socket it gets under ' +
  'net.ipv4.ping_group_range when its cap_net_raw is ignored (systemd NoNewPrivileges=, Kubernetes allowPrivilegeEscalation: false). ' +
  'Install fping 5.2 or later to get the fping engine back; meanwhile each check spawns a ping process (~3 ms of CPU): keep ' +
  'worker.concurrency near 100 and expect about 20,000 devices a minute per 2 cores.';

/**
 * Checks the configured ICMP engine against 127.0.0.1 once at start-up. When fping gets no reply
 * where `ping` does, fping is broken on this host (see FPING_DGRAM_HINT): left in place it would
 * report every device `down`, so the worker checks with `ping` instead and says why.
 */
export async function usableIcmpProbe(engine: IcmpEngine, build: (engine: IcmpEngine) => Probe): Promise<UsableIcmp> {
  const probe = build(engine);
  const permission = await checkIcmpPermission({ probe });
  if (permission.ok || engine !== 'fping' || permission.kind !== 'no-reply') return { probe, engine, permission };
  const ping = build('ping');
  if (!(await checkIcmpPermission({ probe: ping })).ok) {
    await ping.close?.();
    return { probe, engine, permission };
  }
  await probe.close?.();
  return { probe: ping, engine: 'ping', permission: { ok: true }, fellBackFrom: engine };
}
