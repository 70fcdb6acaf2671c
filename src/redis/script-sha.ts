import { createHash } from 'node:crypto';

const shas = new Map<string, string>();

/**
 * The SHA1 Redis knows a script by, for EVALSHA: a script run per device would otherwise send
 * its whole body (and have Redis hash it) on every call. A server that has not seen the script
 * yet (restarted, failed over, SCRIPT FLUSH) answers NOSCRIPT; the caller then runs it once
 * with EVAL, which caches it again.
 */
export function scriptSha(script: string): string {
  let sha = shas.get(script);
  if (sha === undefined) {
    sha = createHash('sha1').update(script).digest('hex');
    shas.set(script, sha);
  }
  return sha;
}
