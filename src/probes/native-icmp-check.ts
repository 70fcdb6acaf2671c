import { constants } from 'node:os';
import type { DeadlineQueue, Due } from './deadline-queue.js';
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

export type Outcome = Omit<ProbeResult, 'durationMs'>;

// probeFault reads only `probe` from where a fault happened.
const WHERE = { probe: 'icmp' } as const;

/** What every check of one engine shares: settings, the pacer, the two timer queues, fixed texts. */
export interface CheckContext {
  settings: CheckSettings;
  sender: EchoSender;
  /** A check waiting `intervalMs` to send its next request. */
  intervals: DeadlineQueue<EchoCheck>;
  /** A check waiting `timeoutMs` after its last request. */
  silences: DeadlineQueue<EchoCheck>;
  /** `reply to request i of count`, by i (built once: no string per reply). */
  replyDetails: string[];
  silenceDetail: string;
}

export function checkContext(settings: CheckSettings, sender: EchoSender, intervals: DeadlineQueue<EchoCheck>, silences: DeadlineQueue<EchoCheck>): CheckContext {
  const replyDetails = Array.from({ length: settings.count + 1 }, (_, i) => `reply to request ${i} of ${settings.count}`);
  return { settings, sender, intervals, silences, replyDetails, silenceDetail: `0/${settings.count} replies` };
}

/**
 * The checks that share one AbortSignal (a probe job's budget, check-device.ts): one abort
 * listener for the group, and the members threaded through the checks themselves, so joining
 * and leaving cost two pointer writes, not a Set entry or an EventTarget listener per check.
 */
export class CheckGroup {
  first: EchoCheck | undefined = undefined;

  /** The budget ran out: every member still waiting ends as a prober error, never as down. */
  abort(): void {
    for (let c = this.first; c; c = this.first) c.settle(probeFault('aborted', WHERE, 'ICMP check stopped: time budget spent', 0));
  }
}

/**
 * One device's ICMP check on the native engine: `count` echo requests `intervalMs` apart, each
 * sent when the pacer gets to it; the first reply makes it up, an ICMP error about any of its
 * requests makes it down with that reason, and silence until `timeoutMs` after the last request
 * makes it down `no-reply`. One object per check is the echo (receives records), the queued send,
 * the timer queues' entry and its budget group's list node, which keeps the per-check garbage to
 * this object, its promise and its result at tens of thousands of checks a second.
 */
export class EchoCheck implements Echo, QueuedSend, Due {
  /** The latest request: the one waiting in the pacer while it waits there. */
  socket!: EchoSocket;
  seq = 0;
  // Requests before the latest, once there is more than one (most checks end at the first reply).
  private earlierSockets: EchoSocket[] | undefined;
  private earlierSeqs: number[] | undefined;
  private registered = 0;
  private sent = 0;
  private settled = false;
  private timerQueue: DeadlineQueue<EchoCheck> | undefined;
  private ticket = 0;
  private previousInGroup: EchoCheck | undefined;
  private nextInGroup: EchoCheck | undefined;

  constructor(
    private readonly context: CheckContext,
    private readonly pool: EchoSocketPool,
    /** IPv4 target as an unsigned 32-bit number, or -1 for an IPv6 target. */
    private readonly v4: number,
    /** IPv6 target bytes (undefined for IPv4). */
    private readonly v6: Buffer | undefined,
    private readonly started: number,
    private readonly resolve: (result: ProbeResult) => void,
    private readonly group: CheckGroup,
  ) {
    const first = group.first;
    this.nextInGroup = first;
    if (first) first.previousInGroup = this;
    group.first = this;
  }

  get family(): IpFamily {
    return this.v6 ? 6 : 4;
  }

  start(): void {
    this.sendNext();
  }

  live(): boolean {
    return !this.settled;
  }

  writeAddress(into: Buffer, offset: number): void {
    if (this.v6) this.v6.copy(into, offset);
    else into.writeUInt32BE(this.v4, offset);
  }

  matches(records: Buffer, offset: number): boolean {
    const v6 = this.v6;
    if (!v6) return records.readUInt32BE(offset) === this.v4;
    for (let i = 0; i < 16; i++) if (records[offset + i] !== v6[i]) return false;
    return true;
  }

  onSent(errno: number): void {
    if (this.settled) return;
    if (errno !== 0) return this.settle(sendFailure(errno));
    this.sent++;
    this.stopTimer();
    this.timerQueue = this.sent < this.context.settings.count ? this.context.intervals : this.context.silences;
    this.ticket = this.timerQueue.add(this);
  }

  onReply(seq: number, rttMs: number): void {
    if (this.settled) return;
    this.settle({
      kind: 'icmp',
      outcome: 'up',
      reason: 'ok',
      detail: this.context.replyDetails[this.requestNumber(seq)]!,
      durationMs: 0,
      rttMs,
    });
  }

  onError(record: EchoRecord): void {
    if (this.settled) return;
    const { reason, detail } = describeIcmpError(this.family, record);
    this.settle({ kind: 'icmp', outcome: 'down', reason, detail, durationMs: 0 });
  }

  /** The timer this check waits on ran out: send the next request, or give up. */
  due(): void {
    this.timerQueue = undefined;
    if (this.settled) return;
    if (this.sent < this.context.settings.count) this.sendNext();
    else this.settle({ kind: 'icmp', outcome: 'down', reason: 'no-reply', detail: this.context.silenceDetail, durationMs: 0 });
  }

  /** Ends the check with `result` (its durationMs set here, from the check's start); later calls do nothing. */
  settle(result: ProbeResult): void {
    if (this.settled) return;
    this.settled = true;
    result.durationMs = this.elapsed();
    this.stopTimer();
    this.leaveGroup();
    if (this.registered > 0) this.socket.release(this.seq);
    const sockets = this.earlierSockets;
    if (sockets) for (let i = 0; i < sockets.length; i++) sockets[i]!.release(this.earlierSeqs![i]!);
    this.resolve(result);
  }

  private sendNext(): void {
    if (this.settled) return;
    let socket: EchoSocket;
    try {
      socket = this.pool.socketWithRoom();
    } catch (err) {
      // Every socket of the pool full and the kernel refused one more (EMFILE…).
      return this.settle(probeFault('socket', WHERE, `could not open another ICMP socket: ${(err as Error).message}`, 0));
    }
    if (this.registered > 0) {
      (this.earlierSockets ??= []).push(this.socket);
      (this.earlierSeqs ??= []).push(this.seq);
    }
    this.socket = socket;
    this.seq = socket.register(this);
    this.registered++;
    this.context.sender.enqueue(this);
  }

  /** 1 for the first request, and so on (the latest request is number `registered`). */
  private requestNumber(seq: number): number {
    if (seq === this.seq || !this.earlierSeqs) return this.registered;
    const i = this.earlierSeqs.indexOf(seq);
    return i >= 0 ? i + 1 : this.registered;
  }

  private elapsed(): number {
    return Math.round(this.context.settings.now() - this.started);
  }

  private stopTimer(): void {
    if (this.timerQueue) this.timerQueue.cancel(this.ticket, this);
    this.timerQueue = undefined;
  }

  private leaveGroup(): void {
    const previous = this.previousInGroup;
    const next = this.nextInGroup;
    if (previous) previous.nextInGroup = next;
    else if (this.group.first === this) this.group.first = next;
    if (next) next.previousInGroup = previous;
    this.previousInGroup = this.nextInGroup = undefined;
  }
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The kernel refused one request: no route is the network's fact about the device; anything else is ours. */
function sendFailure(errno: number): ProbeResult {
  const name = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
  if (name === 'ENETUNREACH' || name === 'EHOSTUNREACH') return { kind: 'icmp', outcome: 'down', reason: 'unreachable', detail: `no route (${name})`, durationMs: 0 };
  const kind = name === 'EPERM' || name === 'EACCES' ? 'icmp-not-permitted' : 'socket';
  return probeFault(kind, WHERE, `sending the echo request failed: ${name}`, 0);
}
