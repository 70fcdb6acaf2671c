import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface ThrowAwayRedis {
  url: string;
  port: number;
  process: ChildProcess;
  /** Kill the server (SIGKILL) without removing its directory, to test reconnects. */
  kill(): Promise<void>;
  /** Start it again on the same port (after kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisLaunchOptions {
  /** A config file, passed first as redis-server wants it (a sentinel's, which it rewrites). */
  configFile?: (dir: string) => string;
  /** More command-line settings: `--replicaof`, `--sentinel`, `--tls-port`, `--cluster-enabled`. */
  args?: string[];
  /** The server's `requirepass`, for the start-up PING. */
  password?: string;
}

/**
 * Starts a private `redis-server` on a free loopback port with no persistence, for tests and the
 * demo. Tests never touch the machine's shared Redis on 6379, so they cannot depend on or
 * destroy its data.
 */
export async function startRedis(options: RedisLaunchOptions = {}): Promise<ThrowAwayRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ip-redis-'));
  const launch = async () => spawnRedis([...(options.configFile ? [options.configFile(dir)] : []), ...baseArgs(port, dir), ...(options.args ?? [])], port, options.password);
  let proc = await launch();
  const handle: ThrowAwayRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    get process() {
      return proc;
    },
    async kill() {
      await terminate(proc, 'SIGKILL');
    },
    async restart() {
      proc = await launch();
    },
    async stop() {
      await terminate(proc, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

const baseArgs = (port: number, dir: string) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];

async function spawnRedis(args: string[], port: number, password?: string): Promise<ChildProcess> {
  const proc = spawn('redis-server', args, { stdio: 'ignore' });
  await waitForPing(port, proc, password);
  return proc;
}

async function waitForPing(port: number, proc: ChildProcess, password?: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with code ${proc.exitCode}`);
    const client = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      return;
    } catch {
      client.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
}

async function terminate(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill(signal);
  });
}
