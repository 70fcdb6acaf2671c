import { describe, expect, it } from 'vitest';
import { pingArgs, replyTimes } from '../../src/probes/ping-output.js';

// Output of Debian's iputils ping (LANG=C), as the probe runs it.
const UP = `PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.
64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.028 ms
64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.019 ms

--- 127.0.0.1 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss, time 201ms
rtt min/avg/max/mdev = 0.019/0.023/0.028/0.004 ms
`;

describe('ping engine: argv and output', () => {
  it('asks for count requests, each waited for timeoutMs, 0.2 s apart, numeric, with the target after --', () => {
    expect(pingArgs('127.0.0.1', 3, 1500)).toEqual(['-n', '-W', '1.5', '-c', '3', '-s', '56', '-i', '0.2', '--', '127.0.0.1']);
    expect(pingArgs('-f', 1, 1000).slice(-2)).toEqual(['--', '-f']);
  });

  it('reads each reply\'s round-trip time, and nothing from the statistics', () => {
    expect(replyTimes(UP)).toEqual([0.028, 0.019]);
  });

  it('reads IPv6, duplicate and busybox replies', () => {
    expect(replyTimes('PING ::1(::1) 56 data bytes\n64 bytes from ::1: icmp_seq=1 ttl=64 time=0.078 ms\n\n--- ::1 ping statistics ---\n')).toEqual([0.078]);
    expect(replyTimes('64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=1.5 ms\n64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=1.7 ms (DUP!)\n')).toEqual([1.5, 1.7]);
    expect(replyTimes('PING 127.0.0.1 (127.0.0.1): 56 data bytes\n64 bytes from 127.0.0.1: seq=0 ttl=64 time=0.060 ms\n')).toEqual([0.06]);
  });

  it('finds no reply in unreachable reports, error banners or empty output', () => {
    const unreachable = 'PING 10.0.0.9 (10.0.0.9) 56(84) bytes of data.\nFrom 10.0.0.1 icmp_seq=1 Destination Host Unreachable\n\n--- 10.0.0.9 ping statistics ---\n1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms\n';
    expect(replyTimes(unreachable)).toEqual([]);
    expect(replyTimes('ping: socket: Operation not permitted\n')).toEqual([]);
    expect(replyTimes('')).toEqual([]);
  });
});
