import type { EchoRecord, IpFamily } from './icmp-echo-addon.js';

// ICMP error codes by type (RFC 792, 1812, 4443), as the check's detail says them.
const UNREACHABLE_V4: Record<number, string> = {
  0: 'network unreachable',
  1: 'host unreachable',
  2: 'protocol unreachable',
  3: 'port unreachable',
  4: 'fragmentation needed',
  5: 'source route failed',
  6: 'destination network unknown',
  7: 'destination host unknown',
  9: 'network administratively prohibited',
  10: 'host administratively prohibited',
  11: 'network unreachable for type of service',
  12: 'host unreachable for type of service',
  13: 'communication administratively prohibited',
};
const UNREACHABLE_V6: Record<number, string> = {
  0: 'no route to destination',
  1: 'communication administratively prohibited',
  2: 'beyond scope of source address',
  3: 'address unreachable',
  4: 'port unreachable',
  5: 'source address failed ingress/egress policy',
  6: 'reject route to destination',
};

/**
 * An ICMP error about one of a check's requests, as the check's verdict: `unreachable` (with
 * what the router said: host unreachable, administratively prohibited…), `time-exceeded` (a
 * routing loop or a TTL too small) or `parameter-problem`.
 */
export function describeIcmpError(family: IpFamily, record: EchoRecord): { reason: string; detail: string } {
  const from = record.offender ? ` from ${record.offender}` : '';
  const code = `ICMP${family === 6 ? 'v6' : ''} type ${record.icmpType} code ${record.icmpCode}`;
  const unreachableType = family === 4 ? 3 : 1;
  const timeExceededType = family === 4 ? 11 : 3;
  if (record.icmpType === unreachableType) {
    const what = (family === 4 ? UNREACHABLE_V4 : UNREACHABLE_V6)[record.icmpCode] ?? 'destination unreachable';
    return { reason: 'unreachable', detail: `${what}${from} (${code})` };
  }
  if (record.icmpType === timeExceededType) return { reason: 'time-exceeded', detail: `time to live exceeded in transit${from} (${code})` };
  return { reason: 'parameter-problem', detail: `parameter problem${from} (${code})` };
}
