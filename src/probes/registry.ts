import type { Config, IcmpEngine, SnmpEngine } from '../config/types.js';
import { createFpingProbe } from './fping.js';
import { createIcmpProbe } from './icmp.js';
import { createNativeIcmpProbe } from './native-icmp.js';
import { sharedSessions } from './snmp-pool.js';
import { createSnmpProbe } from './snmp.js';
import type { Probe, ProbeKind } from './types.js';

/** Every probe kind and how to build it; a new kind is one file and one entry here. */
export const probeFactories = {
  icmp: createIcmpProbe,
  snmp: createSnmpProbe,
} satisfies Record<ProbeKind, (options: never) => Probe>;

type IcmpSettings = { count: number; timeoutMs: number };
type SnmpSettings = { port: number; timeoutMs: number; retries: number };

/** How each engine of a kind is built from the same settings; all of them answer alike. */
export const icmpEngines = {
  native: (s: IcmpSettings) => createNativeIcmpProbe(s),
  ping: (s: IcmpSettings) => probeFactories.icmp(s),
  fping: (s: IcmpSettings) => createFpingProbe(s),
} satisfies Record<IcmpEngine, (s: IcmpSettings) => Probe>;

export const snmpEngines = {
  'session-per-probe': (s: SnmpSettings) => probeFactories.snmp(s),
  shared: (s: SnmpSettings) => probeFactories.snmp({ ...s, sessions: sharedSessions(s) }),
} satisfies Record<SnmpEngine, (s: SnmpSettings) => Probe>;

export type ProbeSet = Partial<Record<ProbeKind, Probe>>;

export const icmpSettings = (config: Config): IcmpSettings => ({ count: config.probes.icmp.count, timeoutMs: config.probes.icmp.timeout_ms });

/**
 * The probes the configuration turns on, built from their settings; a disabled kind is absent.
 * `icmp: false` leaves ICMP to the caller (the worker picks a working engine at start-up).
 */
export function createProbes(config: Config, only: { icmp?: boolean } = {}): ProbeSet {
  const { icmp, snmp } = config.probes;
  const probes: ProbeSet = {};
  if (icmp.enabled && only.icmp !== false) probes.icmp = icmpEngines[icmp.engine](icmpSettings(config));
  if (snmp.enabled) probes.snmp = snmpEngines[snmp.engine]({ port: snmp.port, timeoutMs: snmp.timeout_ms, retries: snmp.retries });
  return probes;
}
