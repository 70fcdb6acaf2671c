import { execFileSync, spawnSync } from 'node:child_process';

/**
 * Two throw-away network namespaces for ICMP tests: `prober` (where the code under test runs)
 * and `router`, joined by a veth pair. The router answers on its own addresses, and for three
 * routed prefixes answers with an ICMP unreachable, an ICMP administratively prohibited, or
 * nothing at all, in IPv4 (198.18.0.0/15, the benchmarking range) and IPv6 (fd00:11::/32, ULA).
 * No packet leaves the two namespaces. The caller must destroy() on every exit path.
 */
export const LAB = {
  v4: { router: '198.18.0.2', unreachable: '198.19.1.5', prohibited: '198.19.2.5', silent: '198.19.3.5' },
  v6: { router: 'fd00:11::2', unreachable: 'fd00:12:1::5', prohibited: 'fd00:12:2::5', silent: 'fd00:12:3::5' },
} as const;

const PROBER_MAC = '02:00:00:00:11:01';
const ROUTER_MAC = '02:00:00:00:11:02';

export const canBuildLab = (): boolean => process.getuid?.() === 0 && spawnSync('ip', ['-V']).status === 0 && spawnSync('setpriv', ['--version']).status === 0;

export interface IcmpLab {
  prober: string;
  router: string;
  /** Opens (or closes: "1 0") ICMP datagram sockets to groups in the prober namespace. */
  pingGroupRange(range: string): void;
  destroy(): void;
}

export function createIcmpLab(tag: string): IcmpLab {
  const prober = `ip-${tag}-p-${process.pid}`;
  const router = `ip-${tag}-r-${process.pid}`;
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const inRouter = (...args: string[]) => execFileSync('ip', ['netns', 'exec', router, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const destroy = () => {
    spawnSync('ip', ['netns', 'delete', prober]);
    spawnSync('ip', ['netns', 'delete', router]);
  };
  try {
    ip('netns', 'add', prober);
    ip('netns', 'add', router);
    const veth = `vp${process.pid % 100000}`;
    // Fixed MACs and permanent neighbours: no ARP/ND warm-up to lose the first echoes to.
    ip('-n', prober, 'link', 'add', veth, 'address', PROBER_MAC, 'type', 'veth', 'peer', 'name', 'vr', 'address', ROUTER_MAC, 'netns', router);
    ip('-n', prober, 'link', 'set', 'lo', 'up');
    ip('-n', router, 'link', 'set', 'lo', 'up');
    ip('-n', prober, 'addr', 'add', '198.18.0.1/24', 'dev', veth);
    ip('-n', prober, '-6', 'addr', 'add', 'fd00:11::1/64', 'dev', veth, 'nodad');
    ip('-n', router, 'addr', 'add', '198.18.0.2/24', 'dev', 'vr');
    ip('-n', router, '-6', 'addr', 'add', 'fd00:11::2/64', 'dev', 'vr', 'nodad');
    ip('-n', prober, 'link', 'set', veth, 'up');
    ip('-n', router, 'link', 'set', 'vr', 'up');
    ip('-n', prober, 'neigh', 'add', '198.18.0.2', 'lladdr', ROUTER_MAC, 'dev', veth, 'nud', 'permanent');
    ip('-n', prober, '-6', 'neigh', 'add', 'fd00:11::2', 'lladdr', ROUTER_MAC, 'dev', veth, 'nud', 'permanent');
    ip('-n', router, 'neigh', 'add', '198.18.0.1', 'lladdr', PROBER_MAC, 'dev', 'vr', 'nud', 'permanent');
    ip('-n', router, '-6', 'neigh', 'add', 'fd00:11::1', 'lladdr', PROBER_MAC, 'dev', 'vr', 'nud', 'permanent');
    ip('-n', prober, 'route', 'add', '198.19.0.0/16', 'via', '198.18.0.2');
    ip('-n', prober, '-6', 'route', 'add', 'fd00:12::/32', 'via', 'fd00:11::2');
    inRouter('sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', 'net.ipv4.icmp_ratelimit=0', 'net.ipv6.icmp.ratelimit=0');
    for (const [kind, v4, v6] of [
      ['unreachable', '198.19.1.0/24', 'fd00:12:1::/64'],
      ['prohibit', '198.19.2.0/24', 'fd00:12:2::/64'],
      ['blackhole', '198.19.3.0/24', 'fd00:12:3::/64'],
    ] as const) {
      ip('-n', router, 'route', 'add', kind, v4);
      ip('-n', router, '-6', 'route', 'add', kind, v6);
    }
  } catch (err) {
    destroy();
    throw err;
  }
  return {
    prober,
    router,
    pingGroupRange: (range) => execFileSync('ip', ['netns', 'exec', prober, 'sysctl', '-qw', `net.ipv4.ping_group_range=${range}`]),
    destroy,
  };
}

/** argv that runs `command` in the prober namespace as nobody, as the hardened deployments run the daemon. */
export function asNobody(lab: IcmpLab, command: string[], opts: { emptyBoundingSet?: boolean } = {}): string[] {
  const bounding = opts.emptyBoundingSet === false ? [] : ['--bounding-set=-all'];
  return ['netns', 'exec', lab.prober, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--no-new-privs', '--inh-caps=-all', ...bounding, ...command];
}
