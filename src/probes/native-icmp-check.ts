import { constants } from 'node:os';
import { probeFault } from './errors.js';
import type { EchoRecord, IpFamily } from './icmp-echo-addon.js';
import type { Echo, EchoSender, EchoSocket, EchoSocketPool, QueuedSend } from './icmp-echo-sockets.js';
import { describeIcmpError } from './icmp-errors.js';
import type { ProbeResult } from './types.js';

export interface CheckSettings {
  count: number;
  timeoutMs: number;
  intervalMs: number;
  now: () => number;
}

type Where = { probe: 'icmp'; deviceId: number };
export type Outcome = Omit<ProbeResult, 'durationMs'>;

/**
 * One device's ICMP check on the native engine: `count` echo requests `intervalMs` apart, each
 * sent when the pacer gets to it; the first reply makes it up, an ICMP error about any of its
 * requests makes it down with that reason, and silence until `timeoutMs` after the last request
 * makes it down `no-reply`. One object per check is the echo (receives records), the queued send
 * and the timer's target, which keeps the per-check garbage small at thousands of checks a second.
 */
export class EchoCheck implements Echo, QueuedSend {
  /** The request waiting in the pacer (at most one at a time). */
  socket!: EchoSocket;
  seq = 0;
  private readonly sockets: EchoSocket[] = [];
  private readonly seqs: number[] = [];
  private sent = 0;
  private settled = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly address: Buffer,
    private readonly family: IpFamily,
    private readonly pool: EchoSocketPool,
    private readonly sender: EchoSender,
    private readonly settings: CheckSettings,
    readonly where: Where,
    private readonly started: number,
    private readonly done: (check: EchoCheck, result: ProbeResult) => void,
  ) {}

  start(): void {
    this.sendNext();
  }

  live(): boolean {
    return !this.settled;
  }

  onSent(errno: number): void {
    if (this.settled) return;
    if (errno !== 0) return this.settle(sendFailure(errno, this.where));
    this.sent++;
    clearTimeout(this.timer);
    this.timer = this.sent < this.settings.count ? setTimeout(nextRequest, this.settings.intervalMs, this) : setTimeout(silence, this.settings.timeoutMs, this);
  }

  onRecord(record: EchoRecord): void {
    if (record.kind === 'reply') {
      const request = this.seqs.indexOf(record.seq) + 1;
      this.settle({ kind: 'icmp', outcome: 'up', reason: 'ok', detail: `reply to request ${request} of ${this.settings.count}`, rttMs: record.rttMs });
    } else {
      this.settle({ kind: 'icmp', outcome: 'down', ...describeIcmpError(this.family, record) });
    }
  }

  settle(outcome: Outcome): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    for (let i = 0; i < this.seqs.length; i++) this.sockets[i]!.release(this.seqs[i]!);
    this.done(this, { ...outcome, durationMs: Math.round(this.settings.now() - this.started) });
  }

  timedOut(): void {
    this.settle({ kind: 'icmp', outcome: 'down', reason: 'no-reply', detail: `0/${this.settings.count} replies` });
  }

  sendNext(): void {
    if (this.settled) return;
    try {
      const { socket, seq } = this.pool.register(this);
      this.socket = socket;
      this.seq = seq;
      this.sockets.push(socket);
      this.seqs.push(seq);
      this.sender.enqueue(this);
    } catch (err) {
      // Every socket of the pool full and the kernel refused one more (EMFILE…).
      this.settle(probeFault('socket', this.where, `could not open another ICMP socket: ${(err as Error).message}`, 0));
    }
  }
}

// Module-level timer callbacks (the check rides as the argument): no closure per timer.
const nextRequest = (check: EchoCheck) => check.sendNext();
const silence = (check: EchoCheck) => check.timedOut();

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The kernel refused one request: no route is the network's fact about the device; anything else is ours. */
function sendFailure(errno: number, where: Where): Outcome {
  const name = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
  if (name === 'ENETUNREACH' || name === 'EHOSTUNREACH') return { kind: 'icmp', outcome: 'down', reason: 'unreachable', detail: `no route (${name})` };
  const kind = name === 'EPERM' || name === 'EACCES' ? 'icmp-not-permitted' : 'socket';
  return probeFault(kind, where, `sending the echo request failed: ${name}`, 0);
}
