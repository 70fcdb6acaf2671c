/**
 * The `ping` engine's command line and output: Linux ping (iputils, as Debian and the Docker image
 * ship it; busybox prints replies the same way). Built and read here, like fping-output.ts does
 * for fping, rather than through a library, so the argv and the parsing are ours to test.
 */

/**
 * `-n` no reverse lookups; `-W` seconds to wait for each reply; `-c` echo requests; `-s 56` the
 * usual payload; `-i 0.2` keeps count × interval inside the check's budget (0.2 s is the
 * shortest an unprivileged user may ask); `--` so a target can never be read as an option.
 */
export function pingArgs(address: string, count: number, timeoutMs: number): string[] {
  return ['-n', '-W', String(timeoutMs / 1000), '-c', String(count), '-s', '56', '-i', '0.2', '--', address];
}

// `64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms` (busybox: `seq=0`); `time<1 ms` on some builds.
const REPLY = /\bbytes from .*\btime[=<]\s*([0-9.]+)\s*ms\b/;

/**
 * Round-trip times (ms) of the echo replies in ping's stdout, in order, a duplicate reply
 * counted like any other. The statistics after the `--- … ---` line are not replies; output
 * without reply lines (an error banner, `From … Destination Host Unreachable`) holds none.
 */
export function replyTimes(stdout: string): number[] {
  const times: number[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith('---')) break;
    const match = REPLY.exec(line);
    if (match) times.push(Number(match[1]));
  }
  return times;
}
