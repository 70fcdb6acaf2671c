export type ProbeKind = 'icmp' | 'snmp';

/**
 * `up` and `down` are facts about the device. `error` is the prober's own fault (no ICMP
 * permission, ping binary missing, local socket failure) and never counts against a device.
 */
export type ProbeOutcome = 'up' | 'down' | 'error';

export interface ProbeResult {
  kind: ProbeKind;
  outcome: ProbeOutcome;
  /** Short machine-friendly reason, e.g. `no-reply`, `timeout`, `eperm`, `ok`. */
  reason: string;
  /** Human detail for the flip log line, e.g. `0/3 replies`. Never contains a secret. */
  detail: string;
  durationMs: number;
  /** ICMP: round-trip time: the best of the replies (ping engine), or of the first reply (fping, which answers then). */
  rttMs?: number;
  /** SNMP: sysUpTime.0 in hundredths of a second (TimeTicks, wraps at 2^32). */
  uptimeTicks?: number;
}

export type SnmpCredentials =
  | { version: '1' | '2c'; community: string }
  | {
      version: '3';
      user: string;
      authProtocol: string;
      authKey: string;
      privProtocol: string;
      privKey: string;
    };

export interface ProbeTarget {
  deviceId: number;
  /** A validated IP literal or hostname; never starts with `-`. */
  address: string;
  /** Absent means the device has no SNMP credentials: it is checked by ICMP only. */
  snmp?: SnmpCredentials;
}

/**
 * One probe kind. The caller owns the time budget (the signal) and the success metric; a
 * batched engine (many targets per process or socket) implements the same interface.
 */
export interface Probe {
  readonly kind: ProbeKind;
  run(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult>;
  close?(): Promise<void>;
}
