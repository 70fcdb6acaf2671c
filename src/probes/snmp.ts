import { isIPv6 } from 'node:net';
import snmp from 'net-snmp';
import { probeFault, systemErrorCode, type ProbeErrorKind } from './errors.js';
import { assertNetSnmpInternals, onUsmReport, RequestInvalidError, RequestTimedOutError } from './net-snmp-adapter.js';
import { judgeTimeoutsAfterStalls } from './snmp-timeouts.js';
import type { Probe, ProbeResult, ProbeTarget, SnmpCredentials } from './types.js';

export const SYS_UPTIME_OID = '1.3.6.1.2.1.1.3.0';

export interface SnmpProbeOptions {
  port: number;
  /** Per attempt; net-snmp re-sends `retries` times before giving up. */
  timeoutMs: number;
  retries: number;
  now?: () => number;
  /** Where sessions come from; the default opens one per probe and closes it after. */
  sessions?: SnmpSessionSource;
}

/**
 * The seam for a shared session later: `open` hands out a session for the target, `release`
 * gives it back (the per-probe source closes it and waits for the socket to be gone).
 */
export interface SnmpSessionSource {
  open(address: string, credentials: SnmpCredentials): snmp.Session;
  release(session: snmp.Session): Promise<void>;
  close?(): Promise<void>;
}

/** USM report PDUs as their own error, so reasons come from the report's OID, not from text. */
export class UsmReportError extends Error {
  constructor(readonly statOid: string) {
    super('agent sent a USM report');
    this.name = 'UsmReportError';
  }
}

/** Credentials net-snmp cannot speak; names protocols only, never keys. */
class UnsupportedCredentialsError extends Error {}

export function perProbeSessions(opts: Pick<SnmpProbeOptions, 'port' | 'timeoutMs' | 'retries'>): SnmpSessionSource {
  return {
    open(address, credentials) {
      const transport = isIPv6(address) ? 'udp6' : 'udp4';
      const common = { port: opts.port, timeout: opts.timeoutMs, retries: opts.retries, backoff: 1, transport } as const;
      const session =
        credentials.version === '3'
          ? snmp.createV3Session(address, v3User(credentials), { ...common, version: snmp.Version3 })
          : snmp.createSession(address, credentials.community, { ...common, version: credentials.version === '1' ? snmp.Version1 : snmp.Version2c });
      // The library only exposes report PDUs as text; hook its one report handler so the OID survives.
      onUsmReport(session, (oid) => new UsmReportError(oid));
      // An undecodable datagram is emitted as 'error'; without a listener it would crash the worker.
      session.on('error', () => {});
      return judgeTimeoutsAfterStalls(session);
    },
    release: closeSession,
  };
}

function v3User(c: Extract<SnmpCredentials, { version: '3' }>): snmp.User {
  const authProtocol = snmp.AuthProtocols[c.authProtocol as keyof typeof snmp.AuthProtocols];
  const privProtocol = snmp.PrivProtocols[c.privProtocol as keyof typeof snmp.PrivProtocols];
  if (authProtocol === undefined || privProtocol === undefined) {
    throw new UnsupportedCredentialsError(`unknown SNMPv3 protocol (auth ${c.authProtocol}, priv ${c.privProtocol})`);
  }
  return { name: c.user, level: snmp.SecurityLevel.authPriv, authProtocol, authKey: c.authKey, privProtocol, privKey: c.privKey };
}

export function createSnmpProbe(opts: SnmpProbeOptions): Probe {
  // Start-up: a net-snmp whose internals moved fails here, by name, not in the first sweep.
  assertNetSnmpInternals();
  const sessions = opts.sessions ?? perProbeSessions(opts);
  const now = opts.now ?? (() => performance.now());
  return {
    kind: 'snmp',
    async run(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
      const started = now();
      const elapsed = () => Math.round(now() - started);
      const where = { probe: 'snmp' as const, deviceId: target.deviceId };
      if (!target.snmp) return probeFault('bad-credentials', where, 'device has no SNMP credentials', elapsed());
      if (signal.aborted) return probeFault('aborted', where, 'aborted before the SNMP GET', elapsed());
      let session: snmp.Session;
      try {
        session = sessions.open(target.address, target.snmp);
      } catch (err) {
        const kind = err instanceof UnsupportedCredentialsError ? 'bad-credentials' : 'socket';
        return probeFault(kind, where, kind === 'socket' ? 'could not open an SNMP session' : (err as Error).message, elapsed());
      }
      try {
        const answer = await getUptime(session, signal);
        return { ...snmpOutcome(answer, where, opts), durationMs: elapsed() };
      } finally {
        await sessions.release(session);
      }
    },
    async close() {
      await sessions.close?.();
    },
  };
}

export type GetAnswer = { aborted: true } | { aborted: false; error: unknown; varbinds: snmp.Varbind[] };

/** One GET of sysUpTime.0; settles on the first of answer, failure or abort. */
function getUptime(session: snmp.Session, signal: AbortSignal): Promise<GetAnswer> {
  return new Promise((resolve) => {
    const onAbort = () => resolve({ aborted: true });
    signal.addEventListener('abort', onAbort, { once: true });
    session.get([SYS_UPTIME_OID], (error, varbinds) => {
      signal.removeEventListener('abort', onAbort);
      resolve({ aborted: false, error, varbinds: varbinds ?? [] });
    });
  });
}

const USM_REASONS: Record<string, string> = {
  '1': 'unsupported-security-level',
  '2': 'not-in-time-window',
  '3': 'unknown-user',
  '4': 'unknown-engine-id',
  '5': 'wrong-digest',
  '6': 'decryption-error',
};

// Fixed text per code: the library's own messages can quote the community.
// 14 is ENotInTimeWindow, which net-snmp has but its typings lack.
const INVALID_RESPONSE: Partial<Record<number, [string, string]>> = {
  [snmp.ResponseInvalidCode.ECouldNotDecrypt]: ['decryption-error', 'could not decrypt the answer (wrong privacy key?)'],
  [snmp.ResponseInvalidCode.EAuthFailure]: ['wrong-digest', 'the answer failed authentication (wrong auth key?)'],
  14: ['not-in-time-window', 'the answer was outside the SNMPv3 time window'],
};

type Outcome = Omit<ProbeResult, 'durationMs'>;

/**
 * What an SNMP exchange says about the device:
 * - sysUpTime.0 came back: `up` with the ticks.
 * - noSuchObject / noSuchInstance / endOfMibView: `up` without uptime. The agent decoded our
 *   authenticated request and answered, which is all "reachable" means; a MIB without sysUpTime
 *   is a quirk of the agent, and flipping the device Down for it would be a false alarm.
 * - v1 noSuchName stays `down`: v1 also reports refused access that way (RFC 3584 §4.4), so it
 *   cannot be told apart from a community the agent rejects.
 * - no answer, error-status, USM reports, answers we cannot read: `down` with a reason.
 * - local socket, resolver or crypto failures: `error`, the prober's own fault.
 */
export function snmpOutcome(answer: GetAnswer, where: { probe: 'snmp'; deviceId: number }, opts: Pick<SnmpProbeOptions, 'timeoutMs' | 'retries'>): Outcome {
  if (answer.aborted) return fault('aborted', where, 'SNMP GET abandoned: time budget spent');
  const { error, varbinds } = answer;
  if (!error) return fromVarbind(varbinds[0]);
  if (error instanceof RequestTimedOutError) {
    return down('timeout', `no answer after ${opts.retries + 1} × ${opts.timeoutMs} ms`);
  }
  if (error instanceof snmp.RequestFailedError) {
    const status = snmp.ErrorStatus[error.status] ?? 'GeneralError';
    return down(kebab(status), `agent error-status ${status}`);
  }
  if (error instanceof UsmReportError) return down(USM_REASONS[error.statOid.split('.').at(-2) ?? ''] ?? 'usm-report', `agent sent a USM report (${error.statOid})`);
  if (error instanceof snmp.ResponseInvalidError) {
    const [reason, detail] = INVALID_RESPONSE[error.code] ?? ['invalid-response', `unreadable answer (code ${error.code})`];
    return down(reason, detail);
  }
  if (error instanceof RequestInvalidError) return fault('bad-credentials', where, 'net-snmp could not build the request');
  return fromSystemError(error, where);
}

function fromVarbind(varbind: snmp.Varbind | undefined): Outcome {
  if (!varbind) return { kind: 'snmp', outcome: 'up', reason: 'empty-answer', detail: 'agent answered with no varbind' };
  if (snmp.isVarbindError(varbind)) {
    const type = snmp.ObjectType[varbind.type ?? snmp.ObjectType.NoSuchObject] ?? 'NoSuchObject';
    return { kind: 'snmp', outcome: 'up', reason: kebab(type), detail: `agent answered ${type} for sysUpTime.0` };
  }
  if (varbind.type === snmp.ObjectType.TimeTicks && typeof varbind.value === 'number') {
    return { kind: 'snmp', outcome: 'up', reason: 'ok', detail: `sysUpTime ${varbind.value}`, uptimeTicks: varbind.value };
  }
  return { kind: 'snmp', outcome: 'up', reason: 'unexpected-type', detail: 'sysUpTime.0 is not TimeTicks' };
}

function fromSystemError(error: unknown, where: { probe: 'snmp'; deviceId: number }): Outcome {
  const code = systemErrorCode(error);
  if (code === 'ENOTFOUND') return down('unresolvable', 'name does not resolve');
  if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH') return down('unreachable', code);
  if (code === 'EAI_AGAIN') return fault('dns-failure', where, 'resolver failed (EAI_AGAIN)');
  if (code?.startsWith('ERR_OSSL')) {
    return fault('bad-credentials', where, `this Node's OpenSSL refuses the privacy cipher (${code}); DES needs --openssl-legacy-provider`);
  }
  return fault('socket', where, `local socket failure: ${code ?? 'unknown'}`);
}

const down = (reason: string, detail: string): Outcome => ({ kind: 'snmp', outcome: 'down', reason, detail });
const fault = (kind: ProbeErrorKind, where: { probe: 'snmp' }, detail: string): Outcome => {
  const { durationMs: _unused, ...rest } = probeFault(kind, where, detail, 0);
  return rest;
};
const kebab = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();

/** Closes a session and resolves once its socket is closed, so no probe leaks a socket. */
export function closeSession(session: snmp.Session): Promise<void> {
  return new Promise<void>((resolve) => {
    session.on('close', () => resolve());
    try {
      session.close();
    } catch {
      resolve(); // already closed
    }
  });
}
