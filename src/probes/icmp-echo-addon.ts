import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIPv6 } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * The typed face of the native addon (native/icmp_echo.c, built by `npm run build` into
 * dist/native/). Nothing else touches the addon's loose JavaScript values.
 */
export type IpFamily = 4 | 6;

/** Datagram sockets need `net.ipv4.ping_group_range` to admit the process's group; raw ones need CAP_NET_RAW. */
export type EchoSocketKind = 'dgram' | 'raw';

export interface OpenedSocket {
  handle: object;
  /** The echo identifier the socket uses (the kernel's choice on a datagram socket). */
  ident: number;
  /** SO_RCVBUF as the kernel granted it (it doubles the request and caps it at rmem_max). */
  receiveBufferBytes: number;
}

export interface IcmpEchoAddon {
  open(family: IpFamily, raw: boolean, receiveBufferBytes: number, onRecords: (records: Buffer) => void): OpenedSocket;
  /** Sends one echo per (address, seq); writes each entry's errno (0 = sent); returns the entries consumed. */
  send(handle: object, addresses: Buffer, seqs: Buffer, errnos: Buffer): number;
  close(handle: object): void;
  /** The socket's packet parser on crafted bytes (tests); `errorType` -1 means a packet, else an error-queue entry. */
  parse(family: IpFamily, raw: boolean, ident: number, cookie: Buffer, packet: Buffer, from: Buffer, errorType: number, errorCode: number): Buffer | null;
}

/** What one record from the addon says: a reply from `address`, or an ICMP error about an echo sent to it. */
export interface EchoRecord {
  kind: 'reply' | 'error';
  seq: number;
  icmpType: number;
  icmpCode: number;
  rttMs: number;
  /** The router that sent an ICMP error, when known. */
  offender?: string;
}

export const RECORD_BYTES = 48;
/** Byte 18 of a record: a reply (else an ICMP error). */
export const RECORD_REPLY = 1;

export type AddonLoad = { ok: true; addon: IcmpEchoAddon; path: string } | { ok: false; reason: string };

// dist/probes/ → dist/native/ in a build; src/probes/ (tests) and dist-bench/src/probes/ (benchmarks) → dist/native/.
const CANDIDATES = ['../native/icmp_echo.node', '../../dist/native/icmp_echo.node', '../../../dist/native/icmp_echo.node'].map((p) =>
  fileURLToPath(new URL(p, import.meta.url)),
);

let loaded: AddonLoad | undefined;

/** Loads the addon once; a missing or broken build is a reason, not an exception (the worker falls back). */
export function loadIcmpEchoAddon(): AddonLoad {
  if (loaded) return loaded;
  const path = CANDIDATES.find((p) => existsSync(p));
  if (!path) {
    loaded = { ok: false, reason: `native ICMP addon not built (looked for ${CANDIDATES[0]})` };
    return loaded;
  }
  try {
    loaded = { ok: true, addon: createRequire(import.meta.url)(path) as IcmpEchoAddon, path };
  } catch (err) {
    loaded = { ok: false, reason: `native ICMP addon ${path} does not load: ${(err as Error).message}` };
  }
  return loaded;
}

/**
 * A dotted-quad IPv4 literal as an unsigned 32-bit number (network order read big-endian), or -1
 * for anything else. The same literals net.isIPv4 accepts (no leading zeros, each part 0-255),
 * without a regular expression or a Buffer per check.
 */
export function parseIPv4(address: string): number {
  const n = address.length;
  if (n < 7 || n > 15) return -1;
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? address.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || parts === 4) return -1;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // a leading zero
      part = part * 10 + c - 48;
      if (part > 255) return -1;
      digits++;
    } else return -1;
  }
  return parts === 4 ? value : -1;
}

/** Network-order bytes of an IP literal, or undefined for anything else (hostnames, zoned IPv6). */
export function addressBytes(address: string): Buffer | undefined {
  const v4 = parseIPv4(address);
  if (v4 >= 0) {
    const bytes = Buffer.allocUnsafe(4);
    bytes.writeUInt32BE(v4, 0);
    return bytes;
  }
  if (!isIPv6(address) || address.includes('%')) return undefined;
  let text = address;
  const v4Tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4Tail?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = v4Tail[1].split('.').map(Number);
    text = `${text.slice(0, v4Tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => bytes.writeUInt16BE(parseInt(g, 16), 2 * i));
  return bytes;
}

/** Printable form of the address bytes at `offset` (for ICMP error details). */
export function addressText(buf: Buffer, offset: number, family: IpFamily): string {
  if (family === 4) return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(offset + 2 * i).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** The round trip of the reply record at `offset`, in ms (two 32-bit halves: no BigInt per reply). */
export function recordRttMs(buf: Buffer, offset: number): number {
  return (buf.readUInt32LE(offset + 24) + buf.readUInt32LE(offset + 28) * 2 ** 32) / 1e6;
}

/** Decodes the record at `offset` (layout: native/icmp_packet.h, parse_packet). */
export function readRecord(buf: Buffer, offset: number, family: IpFamily): EchoRecord {
  const kind = buf[offset + 18] === RECORD_REPLY ? 'reply' : 'error';
  const offenderAt = offset + 32;
  let hasOffender = false;
  for (let i = 0; i < (family === 4 ? 4 : 16); i++) hasOffender ||= buf[offenderAt + i] !== 0;
  const record: EchoRecord = {
    kind,
    seq: buf.readUInt16LE(offset + 16),
    icmpType: buf[offset + 19] ?? 0,
    icmpCode: buf[offset + 20] ?? 0,
    rttMs: recordRttMs(buf, offset),
  };
  if (kind === 'error' && hasOffender) record.offender = addressText(buf, offenderAt, family);
  return record;
}

/** True when the record at `offset` names `address` (its first 4 or 16 bytes). */
export function recordIsFrom(buf: Buffer, offset: number, address: Buffer): boolean {
  for (let i = 0; i < address.length; i++) if (buf[offset + i] !== address[i]) return false;
  return true;
}
