import { readRecord, recordRttMs, RECORD_BYTES, RECORD_REPLY, type EchoRecord, type EchoSocketKind, type IcmpEchoAddon, type IpFamily, type OpenedSocket } from './icmp-echo-addon.js';

/**
 * An echo request waiting for its answer. A record reaches it only when its sequence number is
 * one the echo holds on this socket and `matches` says the record names the echo's target.
 */
export interface Echo {
  matches(records: Buffer, offset: number): boolean;
  onReply(seq: number, rttMs: number): void;
  onError(record: EchoRecord): void;
}

export interface EchoSocketOptions {
  receiveBufferBytes: number;
  /**
   * Echoes one socket carries at once. Sequence numbers are 16-bit, so past this a pool opens
   * another socket; kept below 65,536 so a freed number is not handed out again while a late
   * reply to its last use may still be on the way.
   */
  seqsPerSocket: number;
}

/** One ICMP socket: hands out sequence numbers and routes each record to the echo that owns it. */
export class EchoSocket {
  readonly opened: OpenedSocket;
  // Indexed by sequence number: no hashing per request or reply.
  private readonly echoes: (Echo | undefined)[] = new Array<Echo | undefined>(65_536).fill(undefined);
  private held = 0;
  private nextSeq: number;

  constructor(
    private readonly addon: IcmpEchoAddon,
    readonly family: IpFamily,
    readonly kind: EchoSocketKind,
    private readonly options: EchoSocketOptions,
  ) {
    this.opened = addon.open(family, kind === 'raw', options.receiveBufferBytes, (records) => this.onRecords(records));
    this.nextSeq = Math.floor(Math.random() * 65_536);
  }

  get full(): boolean {
    return this.held >= this.options.seqsPerSocket;
  }

  get outstanding(): number {
    return this.held;
  }

  register(echo: Echo): number {
    while (this.echoes[this.nextSeq] !== undefined) this.nextSeq = (this.nextSeq + 1) & 0xffff;
    const seq = this.nextSeq;
    this.nextSeq = (seq + 1) & 0xffff;
    this.echoes[seq] = echo;
    this.held++;
    return seq;
  }

  release(seq: number): void {
    if (this.echoes[seq] === undefined) return;
    this.echoes[seq] = undefined;
    this.held--;
  }

  /** Every echo still waiting (once per sequence number it holds). */
  waiting(): Echo[] {
    return this.echoes.filter((e): e is Echo => e !== undefined);
  }

  close(): void {
    this.echoes.fill(undefined);
    this.held = 0;
    this.addon.close(this.opened.handle);
  }

  private onRecords(records: Buffer): void {
    for (let offset = 0; offset + RECORD_BYTES <= records.length; offset += RECORD_BYTES) {
      const seq = records[offset + 16]! | (records[offset + 17]! << 8);
      const echo = this.echoes[seq];
      // A stale sequence number, or one now used for another address: not this echo's answer.
      if (echo === undefined || !echo.matches(records, offset)) continue;
      if (records[offset + 18] === RECORD_REPLY) echo.onReply(seq, recordRttMs(records, offset));
      else echo.onError(readRecord(records, offset, this.family));
    }
  }
}

/** The sockets of one family and kind; a new one opens when every open one is full. */
export class EchoSocketPool {
  private readonly sockets: EchoSocket[] = [];

  constructor(
    private readonly addon: IcmpEchoAddon,
    readonly family: IpFamily,
    readonly kind: EchoSocketKind,
    private readonly options: EchoSocketOptions,
    first?: EchoSocket,
  ) {
    if (first) this.sockets.push(first);
  }

  /** A socket with a free sequence number (opening one if every open one is full); may throw the addon's open error. */
  socketWithRoom(): EchoSocket {
    const last = this.sockets[this.sockets.length - 1];
    if (last && !last.full) return last;
    let socket = this.sockets.find((s) => !s.full);
    if (!socket) {
      socket = new EchoSocket(this.addon, this.family, this.kind, this.options);
      this.sockets.push(socket);
    }
    return socket;
  }

  /** Every echo waiting on any of the sockets (an echo holding several sequence numbers comes more than once). */
  waiting(): Echo[] {
    return this.sockets.flatMap((s) => s.waiting());
  }

  get size(): number {
    return this.sockets.length;
  }

  describe(): { ident: number; receiveBufferBytes: number }[] {
    return this.sockets.map((s) => ({ ident: s.opened.ident, receiveBufferBytes: s.opened.receiveBufferBytes }));
  }

  close(): void {
    for (const socket of this.sockets.splice(0)) socket.close();
  }
}

/** A request waiting its turn to be sent; `live` false drops it (its check settled meanwhile). */
export interface QueuedSend {
  socket: EchoSocket;
  seq: number;
  /** Writes the target's 4 (IPv4) or 16 (IPv6) address bytes at `offset`. */
  writeAddress(into: Buffer, offset: number): void;
  live(): boolean;
  /** errno 0: on the wire; otherwise the kernel refused it (ENETUNREACH, EPERM…). */
  onSent(errno: number): void;
}

/**
 * Paces sends: at most `chunk` requests per event-loop turn, then a turn for the replies to be
 * drained. An unpaced burst of 50,000 lost 80% of its replies to receive-buffer overflow in the
 * prototype (docs/performance.md). When the kernel pushes back (EAGAIN, ENOBUFS) the rest
 * waits a millisecond.
 */
export class EchoSender {
  private queue: QueuedSend[] = [];
  private head = 0;
  private scheduled = false;
  // Reused by every send: one chunk's addresses (16 bytes fit either family), seqs and errnos.
  private readonly addresses: Buffer;
  private readonly seqs: Buffer;
  private readonly errnos: Buffer;
  private readonly batch: QueuedSend[] = [];
  private readonly flushNow = () => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    private readonly addon: IcmpEchoAddon,
    private readonly chunk: number,
  ) {
    this.addresses = Buffer.alloc(16 * chunk);
    this.seqs = Buffer.alloc(2 * chunk);
    this.errnos = Buffer.alloc(4 * chunk);
  }

  enqueue(send: QueuedSend): void {
    this.queue.push(send);
    this.schedule(0);
  }

  /** Drops everything queued (close). */
  clear(): void {
    this.queue = [];
    this.head = 0;
  }

  private schedule(delayMs: number): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (delayMs > 0) setTimeout(this.flushNow, delayMs);
    else setImmediate(this.flushNow);
  }

  private flush(): void {
    const batch = this.batch;
    batch.length = 0;
    while (this.head < this.queue.length && batch.length < this.chunk) {
      const next = this.queue[this.head++]!;
      if (next.live()) batch.push(next);
    }
    let pushedBack = false;
    for (let i = 0; i < batch.length; ) {
      // One addon call per run of requests for the same socket (nearly always the whole batch).
      const socket = batch[i]!.socket;
      let end = i;
      while (end < batch.length && batch[end]!.socket === socket) end++;
      const consumed = this.sendRun(socket, batch, i, end);
      if (consumed < end - i) {
        this.queue.splice(this.head, 0, ...batch.slice(i + consumed));
        pushedBack = true;
        break;
      }
      i = end;
    }
    batch.length = 0;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.head < this.queue.length) this.schedule(pushedBack ? 1 : 0);
  }

  /** Sends batch[from..to) (all on `socket`); returns how many the kernel took or refused for good. */
  private sendRun(socket: EchoSocket, batch: QueuedSend[], from: number, to: number): number {
    const width = socket.family === 4 ? 4 : 16;
    const n = to - from;
    for (let k = 0; k < n; k++) {
      const s = batch[from + k]!;
      s.writeAddress(this.addresses, width * k);
      this.seqs.writeUInt16LE(s.seq, 2 * k);
    }
    const consumed = this.addon.send(socket.opened.handle, this.addresses.subarray(0, width * n), this.seqs.subarray(0, 2 * n), this.errnos);
    for (let k = 0; k < consumed; k++) batch[from + k]!.onSent(this.errnos.readInt32LE(4 * k));
    return consumed;
  }
}
