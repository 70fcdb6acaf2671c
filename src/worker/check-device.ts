import type { Config } from '../config/types.js';
import type { Device } from '../inventory/device.js';
import { combineProbes } from '../probes/combine.js';
import { snmpCredentialsFor } from '../probes/credentials.js';
import type { Probe, ProbeKind, ProbeResult, ProbeTarget } from '../probes/types.js';
import type { Check } from '../status/machine.js';
import type { ProbeSet } from '../probes/registry.js';

export interface DeviceCheck {
  check: Check;
  results: Partial<Record<ProbeKind, ProbeResult>>;
}

export type { ProbeSet } from '../probes/registry.js';

/**
 * Runs the device's probes side by side under one time budget (`signal`, usually
 * `AbortSignal.timeout(checkBudgetMs(config))`, shared by the checks that start together) and
 * folds them into a verdict. A device with no SNMP credentials is checked by ICMP alone.
 */
export async function checkDevice(
  device: Device,
  probes: ProbeSet,
  config: Config,
  now: () => number,
  signal: AbortSignal,
): Promise<DeviceCheck> {
  const target: ProbeTarget = { deviceId: device.id, address: device.target, snmp: snmpCredentialsFor(device, config) };
  const kinds = (Object.keys(probes) as ProbeKind[]).filter((k) => k !== 'snmp' || target.snmp);
  const settled = await Promise.all(kinds.map((kind) => runProbe(probes[kind] as Probe, target, signal, now)));
  const results: Partial<Record<ProbeKind, ProbeResult>> = {};
  for (const r of settled) results[r.kind] = r;
  const verdict = combineProbes(config.probes.up_when, results);
  return {
    check: { outcome: verdict.outcome, reason: verdict.reason, atMs: now(), uptimeTicks: results.snmp?.uptimeTicks },
    results,
  };
}

/** A probe that throws is a bug or a local fault, never evidence against the device. */
async function runProbe(probe: Probe, target: ProbeTarget, signal: AbortSignal, now: () => number): Promise<ProbeResult> {
  const started = now();
  try {
    return await probe.run(target, signal);
  } catch (err) {
    return {
      kind: probe.kind,
      outcome: 'error',
      reason: 'probe-crashed',
      detail: (err as Error).message,
      durationMs: now() - started,
    };
  }
}

/** The longest a check may take: every enabled probe's worst case, plus slack. */
export function checkBudgetMs(config: Config): number {
  const { icmp, snmp } = config.probes;
  const icmpMs = icmp.enabled ? icmp.count * icmp.timeout_ms + 1_000 : 0;
  const snmpMs = snmp.enabled ? snmp.timeout_ms * (snmp.retries + 1) + 1_000 : 0;
  return Math.max(icmpMs, snmpMs, 1_000);
}
