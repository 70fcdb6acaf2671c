/**
 * Running benchmark subjects as the hardened deployments run the daemon: uid/gid 65534, no
 * capability in the effective, inheritable or ambient sets, no_new_privs (systemd
 * NoNewPrivileges=, Kubernetes allowPrivilegeEscalation: false), ICMP only through
 * net.ipv4.ping_group_range. Needs root to start (setpriv) and to open the range.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const RANGE_FILE = '/proc/sys/net/ipv4/ping_group_range';

/**
 * argv prefix that starts a command as nobody. `emptyBoundingSet` (the systemd unit and the
 * restricted pods) also stops the kernel from exec'ing Debian's ping/fping at all (their
 * cap_net_raw+ep file capability exceeds the bounding set), so the engines bench keeps the
 * bounding set to measure them; the capability is still ignored under no_new_privs.
 */
export function asNobody(opts: { emptyBoundingSet: boolean }): string[] {
  return ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--no-new-privs', '--inh-caps=-all', ...(opts.emptyBoundingSet ? ['--bounding-set=-all'] : [])];
}

/**
 * Admits group 65534 (only) to ICMP datagram sockets in this network namespace; returns the
 * function that restores the previous range (the host's must end as it was, usually "1 0").
 */
export function openPingGroupRangeForNobody(): () => void {
  const before = readFileSync(RANGE_FILE, 'utf8').trim();
  writeFileSync(RANGE_FILE, '65534 65534');
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    writeFileSync(RANGE_FILE, before.replace(/\s+/, ' '));
  };
}
