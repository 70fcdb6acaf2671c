import type { Config } from '../config/types.js';
import { createIcmpProbe } from './icmp.js';
import { createSnmpProbe } from './snmp.js';
import type { Probe, ProbeKind } from './types.js';

/** Every probe kind and how to build it; a new kind is one file and one entry here. */
export const probeFactories = {
  icmp: createIcmpProbe,
  snmp: createSnmpProbe,
} satisfies Record<ProbeKind, (options: never) => Probe>;

export type ProbeSet = Partial<Record<ProbeKind, Probe>>;

/** The probes the configuration turns on, built from their settings; a disabled kind is absent. */
export function createProbes(config: Config): ProbeSet {
  const { icmp, snmp } = config.probes;
  const probes: ProbeSet = {};
  if (icmp.enabled) probes.icmp = probeFactories.icmp({ count: icmp.count, timeoutMs: icmp.timeout_ms });
  if (snmp.enabled) probes.snmp = probeFactories.snmp({ port: snmp.port, timeoutMs: snmp.timeout_ms, retries: snmp.retries });
  return probes;
}
