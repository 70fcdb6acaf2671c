import type { ProbeKind, ProbeResult } from './types.js';

/**
 * The prober's own faults while probing. None of them is evidence about the device, so a probe
 * that hits one reports `error` (the device keeps its status) with the kind as the reason.
 *
 * - `icmp-not-permitted`: the process may not open an ICMP socket (ping_group_range, cap_net_raw).
 * - `ping-missing`: the ping binary is not there or not executable.
 * - `addon-missing`: the native ICMP engine's addon was not built or does not load.
 * - `ping-failed`: ping exited with an error we do not recognise as the device's fault.
 * - `dns-failure`: the resolver itself failed (EAI_AGAIN), not the name.
 * - `socket`: a local socket could not be created, bound or written (EACCES, EMFILE, ENOBUFS…).
 * - `unsafe-target`: an address that would be read as an option (starts with `-`).
 * - `bad-credentials`: SNMP credentials the library cannot use (unknown protocol name).
 * - `aborted`: the caller's time budget ran out or the worker is shutting down.
 */
export type ProbeErrorKind =
  | 'icmp-not-permitted'
  | 'ping-missing'
  | 'addon-missing'
  | 'ping-failed'
  | 'dns-failure'
  | 'socket'
  | 'unsafe-target'
  | 'bad-credentials'
  | 'aborted';

/**
 * The result of a probe that hit one of the prober's own faults: `error` with the fault's kind as
 * its reason, so the device keeps its status. A result, not an exception: probes never throw.
 */
export function probeFault(kind: ProbeErrorKind, where: { probe: ProbeKind }, detail: string, durationMs: number): ProbeResult {
  return { kind: where.probe, outcome: 'error', reason: kind, detail, durationMs };
}

/** The `code` of a Node system error (`ENOENT`, `EACCES`…), if it has one. */
export function systemErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
