import { spawn } from 'node:child_process';

/** What one run of an ICMP engine's binary (ping or fping) left behind. */
export interface PingRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts `file args`, resolves once the child has exited. Rejects with the Node system error
 * (`code` ENOENT, EACCES) when the binary cannot be started. When `signal` fires it must kill the
 * child; it may then resolve or reject, the probe reports `aborted` either way. `onStdout`, when
 * given, sees stdout as it arrives (fping's per-reply lines); the resolved `stdout` still holds all of it.
 */
export type PingRunner = (file: string, args: readonly string[], signal: AbortSignal, onStdout?: (chunk: string) => void) => Promise<PingRun>;

/** Spawns the engine's binary directly, never through a shell, so we can kill it, see stderr and ENOENT. */
export const spawnPing: PingRunner = (file, args, signal, onStdout) =>
  new Promise((resolve, reject) => {
    // LANG=C keeps the output the parsers expect; set on a copy, never on process.env for the whole daemon.
    const child = spawn(file, args, { shell: false, signal, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LANG: 'C', LC_ALL: 'C' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      onStdout?.(b.toString('utf8'));
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      if (child.pid === undefined) reject(e); // never started; an abort still ends in 'close'
    });
    child.once('close', (exitCode) =>
      resolve({ exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
