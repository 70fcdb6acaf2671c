import { ProberError } from '../errors.js';
import type { ProbeKind, ProbeResult } from './types.js';

/**
 * The prober's own faults while probing. None of them is evidence about the device, so a probe
 * that hits one reports `error` (the device keeps its status) with `kind` as the reason.
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

export class ProbeError extends ProberError {
  readonly kind: ProbeErrorKind;
  /** Every one of these is local; retrying the same probe in the same process will not help. */
  readonly retryable = false;
  readonly probe: ProbeKind;
  readonly deviceId: number;

  constructor(
    kind: ProbeErrorKind,
    where: { probe: ProbeKind; deviceId: number },
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.kind = kind;
    this.probe = where.probe;
    this.deviceId = where.deviceId;
  }

  /** The probe result this fault becomes: `error`, never counted against the device. */
  toResult(durationMs: number): ProbeResult {
    return { kind: this.probe, outcome: 'error', reason: this.kind, detail: this.message, durationMs };
  }
}

export const isProbeError = (err: unknown): err is ProbeError => err instanceof ProbeError;

/** The `code` of a Node system error (`ENOENT`, `EACCES`…), if it has one. */
export function systemErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
