import type { Config, IcmpEngine } from '../config/types.js';
import { checkIcmpPermission, type IcmpPermission } from './icmp-permission.js';
import type { NativeIcmpProbe } from './native-icmp.js';
import { createProbes, icmpEngines, icmpSettings, type ProbeSet } from './registry.js';
import type { Probe } from './types.js';

export interface UsableIcmp {
  probe: Probe;
  engine: IcmpEngine;
  permission: IcmpPermission;
  /** Set when the configured engine failed its start-up check and a fallback passed. */
  fellBack?: { from: IcmpEngine; reason: string; hint: string };
  /** The native engine's sockets: which kind it got (datagram or raw) and why. */
  sockets?: string;
}

/** Where each engine goes when it fails its start-up check, in order. */
const FALLBACKS: Record<IcmpEngine, IcmpEngine[]> = { native: ['fping', 'ping'], fping: ['ping'], ping: [] };

const PING_COST = 'meanwhile each check spawns a ping process (~3 ms of CPU): keep worker.concurrency near 100 and expect about 20,000 devices a minute per 2 cores.';
const FPING_COST = 'meanwhile each check costs ~0.1–0.4 ms of CPU in fping and its parsing (docs/performance.md).';

const FPING_DGRAM_HINT =
  'fping before 5.2 cannot read replies on ICMP datagram sockets (the kernel rewrites the echo identifier and fping drops ' +
  'every reply as not its own: schweikert/fping#248; Debian 12 and 13 ship 5.1). That is the socket it gets under ' +
  'net.ipv4.ping_group_range when its cap_net_raw is ignored (systemd NoNewPrivileges=, Kubernetes allowPrivilegeEscalation: false). ' +
  `Install fping 5.2 or later, or run it with a usable cap_net_raw, to get the fping engine back; ${PING_COST}`;

const ADDON_HINT = 'build it with `npm run build` (needs a C compiler and Node\'s headers, see docs/development.md), or choose probes.icmp.engine fping or ping';

const NATIVE_PERMISSION_HINT =
  'let the daemon\'s group open ICMP datagram sockets: `sysctl -w net.ipv4.ping_group_range="0 2147483647"` persisted in ' +
  '/etc/sysctl.d (systemd: deploy/systemd/99-inventory-prober-ping.conf), the pod sysctl net.ipv4.ping_group_range in ' +
  'Kubernetes, `--sysctl net.ipv4.ping_group_range=…` for Docker; or grant CAP_NET_RAW for a raw socket (docs/deployment.md)';

/**
 * Checks the configured ICMP engine against 127.0.0.1 once at start-up and, when it fails,
 * tries its fallbacks (native → fping → ping, fping → ping) and says why. The cases that matter
 * most: an addon that was not built or a host that allows no ICMP socket (native), and an fping
 * that runs but hears nothing (FPING_DGRAM_HINT), which would report every device `down`. When
 * no engine passes, the configured one stays and every ICMP probe is an `error`, counted against
 * no device.
 */
export async function usableIcmpProbe(engine: IcmpEngine, build: (engine: IcmpEngine) => Probe): Promise<UsableIcmp> {
  const probe = build(engine);
  const permission = await checkEngine(engine, probe);
  if (permission.ok) return { probe, engine, permission, ...describeSockets(probe) };
  for (const next of FALLBACKS[engine]) {
    const candidate = build(next);
    if ((await checkEngine(next, candidate)).ok) {
      await probe.close?.();
      return { probe: candidate, engine: next, permission: { ok: true }, fellBack: { from: engine, reason: permission.reason, hint: fallbackHint(engine, next, permission) } };
    }
    await candidate.close?.();
  }
  return { probe, engine, permission };
}

function fallbackHint(from: IcmpEngine, to: IcmpEngine, failed: Exclude<IcmpPermission, { ok: true }>): string {
  if (from === 'fping' && failed.kind === 'no-reply') return FPING_DGRAM_HINT;
  return `${failed.hint}; ${to === 'ping' ? PING_COST : FPING_COST}`;
}

async function checkEngine(engine: IcmpEngine, probe: Probe): Promise<IcmpPermission> {
  if (engine !== 'native') return checkIcmpPermission({ probe });
  const result = await probe.run({ deviceId: 0, address: '127.0.0.1' }, AbortSignal.timeout(5000));
  if (result.outcome === 'up') return { ok: true };
  if (result.reason === 'addon-missing') return { ok: false, kind: 'missing', reason: result.detail, hint: ADDON_HINT };
  if (result.reason === 'icmp-not-permitted') return { ok: false, kind: 'not-permitted', reason: result.detail, hint: NATIVE_PERMISSION_HINT };
  if (result.outcome === 'down') {
    return { ok: false, kind: 'no-reply', reason: `127.0.0.1 did not answer ICMP (${result.detail})`, hint: 'a firewall rule drops ICMP echo on loopback; allow it' };
  }
  return { ok: false, kind: 'other', reason: `${result.reason}: ${result.detail}`, hint: 'see docs/runbooks.md (ICMP)' };
}

function describeSockets(probe: Probe): { sockets?: string } {
  const reports = (probe as Partial<NativeIcmpProbe>).sockets?.();
  if (!reports?.length) return {};
  return {
    sockets: reports
      .map((r) => `IPv${r.family} ${r.why} (echo id ${r.sockets.map((s) => s.ident).join(', ')}, receive buffer ${Math.round((r.sockets[0]?.receiveBufferBytes ?? 0) / 1024)} KiB)`)
      .join('; '),
  };
}

/** The configured probes, ICMP through the same start-up choice as the worker's (the CLI's one-off checks). */
export async function usableProbes(config: Config): Promise<ProbeSet> {
  const probes = createProbes(config, { icmp: false });
  if (config.probes.icmp.enabled) probes.icmp = (await usableIcmpProbe(config.probes.icmp.engine, (engine) => icmpEngines[engine](icmpSettings(config)))).probe;
  return probes;
}
