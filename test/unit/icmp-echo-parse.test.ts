import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { addressBytes, loadIcmpEchoAddon, readRecord, type IcmpEchoAddon, type IpFamily } from '../../src/probes/icmp-echo-addon.js';

/**
 * The native engine's packet parser (native/icmp_echo.c, parse_packet) on crafted bytes, through
 * the addon's `parse` export: the same function the socket runs on every packet it reads. A
 * packet that is not ours must come back null, never as a record credited to a device.
 */
const load = loadIcmpEchoAddon();
const addon = (): IcmpEchoAddon => {
  if (!load.ok) throw new Error(`${load.reason}: run npm run build first`);
  return load.addon;
};

const COOKIE = Buffer.from('c0ffee00deadbeef', 'hex');
const IDENT = 0x1234;
const V4 = addressBytes('198.18.0.7')!;
const V6 = addressBytes('fd00:11::7')!;
const ROUTER_V4 = addressBytes('198.18.0.2')!;

/** An ICMP echo header + our 56-byte payload (cookie, send time, zeros). */
function echo(type: number, seq: number, opts: { ident?: number; cookie?: Buffer; sentNs?: bigint } = {}): Buffer {
  const p = Buffer.alloc(64);
  p[0] = type;
  p.writeUInt16BE(opts.ident ?? IDENT, 4);
  p.writeUInt16BE(seq, 6);
  (opts.cookie ?? COOKIE).copy(p, 8);
  p.writeBigUInt64LE(opts.sentNs ?? 0n, 16);
  return p;
}

function ipv4Header(src: Buffer, dst: Buffer, protocol = 1, ihlWords = 5): Buffer {
  const h = Buffer.alloc(ihlWords * 4);
  h[0] = 0x40 | ihlWords;
  h[9] = protocol;
  src.copy(h, 12);
  dst.copy(h, 16);
  return h;
}

function ipv6Header(src: Buffer, dst: Buffer, nextHeader = 58): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h[6] = nextHeader;
  src.copy(h, 8);
  dst.copy(h, 24);
  return h;
}

/** An ICMP error (type/code) quoting `quoted` (the offending packet's IP header and start). */
const icmpError = (type: number, code: number, quoted: Buffer) => Buffer.concat([Buffer.from([type, code, 0, 0, 0, 0, 0, 0]), quoted]);

const parse = (family: IpFamily, raw: boolean, packet: Buffer, from: Buffer, errorType = -1, errorCode = 0) =>
  addon().parse(family, raw, IDENT, COOKIE, packet, from, errorType, errorCode);

describe('native ICMP reply parser (crafted packets)', () => {
  it('the addon is built (npm run build) and loads', () => {
    expect(load).toMatchObject({ ok: true });
  });

  it('credits an echo reply with our id and cookie to its source address and sequence number', () => {
    const rec = parse(4, false, echo(0, 4242), V4);
    expect(rec).not.toBeNull();
    expect(rec!.subarray(0, 4)).toEqual(V4);
    expect(readRecord(rec!, 0, 4)).toMatchObject({ kind: 'reply', seq: 4242, icmpType: 0 });
    const v6 = parse(6, false, echo(129, 7), V6);
    expect(v6!.subarray(0, 16)).toEqual(V6);
    expect(readRecord(v6!, 0, 6)).toMatchObject({ kind: 'reply', seq: 7, icmpType: 129 });
  });

  it('drops truncated packets at every length short of header + cookie + timestamp', () => {
    const full = echo(0, 1);
    for (let len = 0; len < 24; len++) expect(parse(4, false, full.subarray(0, len), V4), `length ${len}`).toBeNull();
    expect(parse(4, false, full.subarray(0, 24), V4)).not.toBeNull();
  });

  it('drops the wrong ICMP type: our own echo request, a redirect, an IPv6 reply on an IPv4 socket', () => {
    expect(parse(4, false, echo(8, 1), V4)).toBeNull();
    expect(parse(4, false, echo(5, 1), V4)).toBeNull();
    expect(parse(4, false, echo(129, 1), V4)).toBeNull();
    expect(parse(6, false, echo(128, 1), V6)).toBeNull();
  });

  it("drops another process's echo: wrong cookie or wrong identifier", () => {
    expect(parse(4, false, echo(0, 1, { cookie: Buffer.from('0000000000000001', 'hex') }), V4)).toBeNull();
    expect(parse(4, false, echo(0, 1, { ident: IDENT + 1 }), V4)).toBeNull();
    expect(parse(6, true, echo(129, 1, { cookie: randomBytes(8) }), V6)).toBeNull();
  });

  it('reads an oversized reply by its header only, and never past the buffer', () => {
    const big = Buffer.alloc(65_535);
    echo(0, 99).copy(big);
    expect(readRecord(parse(4, false, big, V4)!, 0, 4)).toMatchObject({ kind: 'reply', seq: 99 });
  });

  it('on a raw IPv4 socket skips the IP header, and drops packets whose header length lies', () => {
    const reply = Buffer.concat([ipv4Header(V4, ROUTER_V4), echo(0, 5)]);
    expect(readRecord(parse(4, true, reply, V4)!, 0, 4)).toMatchObject({ kind: 'reply', seq: 5 });
    const withOptions = Buffer.concat([ipv4Header(V4, ROUTER_V4, 1, 6), echo(0, 6)]);
    expect(readRecord(parse(4, true, withOptions, V4)!, 0, 4)).toMatchObject({ seq: 6 });
    const lies = Buffer.from(reply);
    lies[0] = 0x4f; // 60-byte header claimed
    expect(parse(4, true, lies.subarray(0, 50), V4)).toBeNull();
    const tooShort = Buffer.from(reply);
    tooShort[0] = 0x44; // 16 bytes: less than an IPv4 header
    expect(parse(4, true, tooShort, V4)).toBeNull();
    const notV4 = Buffer.from(reply);
    notV4[0] = 0x65;
    expect(parse(4, true, notV4, V4)).toBeNull();
  });

  it('on a raw socket credits an ICMP error quoting our request to the address it was sent to, naming the router', () => {
    const quoted = Buffer.concat([ipv4Header(ROUTER_V4, V4), echo(8, 77)]);
    const packet = Buffer.concat([ipv4Header(ROUTER_V4, ROUTER_V4), icmpError(3, 13, quoted)]);
    const rec = parse(4, true, packet, ROUTER_V4);
    expect(rec!.subarray(0, 4)).toEqual(V4);
    expect(readRecord(rec!, 0, 4)).toMatchObject({ kind: 'error', seq: 77, icmpType: 3, icmpCode: 13, offender: '198.18.0.2' });
    // RFC 792 routers quote only 8 bytes of the request: id and sequence still match.
    const short = Buffer.concat([ipv4Header(ROUTER_V4, ROUTER_V4), icmpError(3, 1, Buffer.concat([ipv4Header(ROUTER_V4, V4), echo(8, 78).subarray(0, 8)]))]);
    expect(readRecord(parse(4, true, short, ROUTER_V4)!, 0, 4)).toMatchObject({ kind: 'error', seq: 78 });
    const v6 = icmpError(1, 1, Buffer.concat([ipv6Header(V6, V6), echo(128, 79)]));
    expect(readRecord(parse(6, true, v6, V6)!, 0, 6)).toMatchObject({ kind: 'error', seq: 79, icmpType: 1, icmpCode: 1 });
  });

  it("drops ICMP errors about someone else's packet: other id, other cookie, not an echo request, not ICMP, cut short", () => {
    const wrap = (quoted: Buffer) => Buffer.concat([ipv4Header(ROUTER_V4, ROUTER_V4), icmpError(3, 1, quoted)]);
    expect(parse(4, true, wrap(Buffer.concat([ipv4Header(ROUTER_V4, V4), echo(8, 1, { ident: 1 })])), ROUTER_V4)).toBeNull();
    expect(parse(4, true, wrap(Buffer.concat([ipv4Header(ROUTER_V4, V4), echo(8, 1, { cookie: randomBytes(8) })])), ROUTER_V4)).toBeNull();
    expect(parse(4, true, wrap(Buffer.concat([ipv4Header(ROUTER_V4, V4), echo(0, 1)])), ROUTER_V4)).toBeNull();
    expect(parse(4, true, wrap(Buffer.concat([ipv4Header(ROUTER_V4, V4, 17), echo(8, 1)])), ROUTER_V4)).toBeNull();
    expect(parse(4, true, wrap(Buffer.concat([ipv4Header(ROUTER_V4, V4), echo(8, 1).subarray(0, 7)])), ROUTER_V4)).toBeNull();
    expect(parse(4, true, wrap(ipv4Header(ROUTER_V4, V4).subarray(0, 12)), ROUTER_V4)).toBeNull();
    // A datagram socket never reads errors inline (they come through the error queue).
    expect(parse(4, false, icmpError(3, 1, Buffer.concat([ipv4Header(ROUTER_V4, V4), echo(8, 1)])), V4)).toBeNull();
  });

  it('reads error-queue entries (datagram sockets) only when they quote our request', () => {
    expect(readRecord(parse(4, false, echo(8, 31), V4, 3, 1)!, 0, 4)).toMatchObject({ kind: 'error', seq: 31, icmpType: 3, icmpCode: 1 });
    expect(readRecord(parse(6, false, echo(128, 32), V6, 1, 0)!, 0, 6)).toMatchObject({ kind: 'error', seq: 32, icmpType: 1 });
    expect(parse(4, false, echo(8, 33, { cookie: randomBytes(8) }), V4, 3, 1)).toBeNull();
    expect(parse(4, false, echo(0, 34), V4, 3, 1)).toBeNull();
    expect(parse(4, false, echo(8, 35).subarray(0, 6), V4, 3, 1)).toBeNull();
  });

  it('survives random bytes of every length and credits none of them', () => {
    for (let i = 0; i < 20_000; i++) {
      const packet = randomBytes(i % 1500);
      for (const [family, raw] of [[4, true], [4, false], [6, true], [6, false]] as const) {
        expect(parse(family, raw, packet, family === 4 ? V4 : V6, i % 3 === 0 ? 3 : -1)).toBeNull();
      }
    }
  });

  it('refuses a cookie or source address of the wrong size instead of reading past it', () => {
    expect(() => addon().parse(4, false, IDENT, Buffer.alloc(4), echo(0, 1), V4, -1, 0)).toThrow(RangeError);
    expect(() => addon().parse(6, false, IDENT, COOKIE, echo(129, 1), V4, -1, 0)).toThrow(RangeError);
  });
});

describe('addressBytes', () => {
  it('turns IP literals into network-order bytes and refuses names and zoned IPv6', () => {
    expect(addressBytes('10.1.2.3')).toEqual(Buffer.from([10, 1, 2, 3]));
    expect(addressBytes('::1')!.toString('hex')).toBe('00000000000000000000000000000001');
    expect(addressBytes('fd00:11::7')!.toString('hex')).toBe('fd000011000000000000000000000007');
    expect(addressBytes('2001:db8:0:0:1:0:0:1')!.toString('hex')).toBe('20010db8000000000001000000000001');
    expect(addressBytes('::ffff:192.0.2.1')!.toString('hex')).toBe('00000000000000000000ffffc0000201');
    expect(addressBytes('fe80::1%eth0')).toBeUndefined();
    expect(addressBytes('router.example')).toBeUndefined();
  });
});
