import { isIP } from 'node:net';

export type TargetCheck = { ok: true; target: string } | { ok: false; reason: string };

const MAX_HOSTNAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
/** A last label `ping` (inet_aton) would read as a number: `10.1`, `0x7f000001`, `017`. */
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/i;

/**
 * Decides whether an inventory value may reach `ping`/SNMP as a target. The inventory is
 * untrusted: `-f` would be read as an option, `$(reboot)` is harmless without a shell but never
 * a host, so only three forms pass:
 *
 * - an IPv4 literal in dotted-quad form (`net.isIP`); `127.1` or `010.1.1.1` are refused
 *   because resolvers disagree on what they mean;
 * - an IPv6 literal without a zone id (`fe80::1%eth0` names a local interface, not a device);
 * - an RFC 1123 hostname: labels of 1-63 chars of `[A-Za-z0-9-]`, not starting or ending
 *   with `-`, at most 253 chars, last label not numeric. One trailing dot (the absolute form,
 *   `router.example.com.`) is accepted and kept, since `ping` and DNS resolve it as written.
 *
 * The reason never repeats the value: it is logged, and the value may be hostile or huge.
 */
export function validateTarget(value: unknown): TargetCheck {
  if (typeof value !== 'string') return { ok: false, reason: `not a string (${value === null ? 'null' : typeof value})` };
  if (value.length === 0) return { ok: false, reason: 'empty' };
  if (value.startsWith('-')) return { ok: false, reason: "starts with '-' (would be read as an option)" };
  const family = isIP(value);
  if (family === 4) return { ok: true, target: value };
  if (family === 6) {
    return value.includes('%') ? { ok: false, reason: 'IPv6 zone ids are not supported' } : { ok: true, target: value };
  }
  const reason = hostnameProblem(value);
  return reason ? { ok: false, reason } : { ok: true, target: value };
}

function hostnameProblem(value: string): string | undefined {
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length === 0) return 'empty';
  if (name.length > MAX_HOSTNAME_LENGTH) return `longer than ${MAX_HOSTNAME_LENGTH} characters`;
  if (!/^[\x21-\x7e]*$/.test(name)) return 'contains whitespace, control or non-ASCII characters';
  const labels = name.split('.');
  for (const label of labels) {
    if (label.length === 0) return 'has an empty label (..)';
    if (label.length > MAX_LABEL_LENGTH) return `has a label longer than ${MAX_LABEL_LENGTH} characters`;
    if (!LABEL.test(label)) return 'is neither an IP address nor an RFC 1123 hostname (only letters, digits, inner hyphens)';
  }
  if (NUMERIC_LABEL.test(labels[labels.length - 1] ?? '')) return 'looks like a malformed IP address';
  return undefined;
}
