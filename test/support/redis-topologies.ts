import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './daemon.js';
import { freePort, startRedis, type ThrowAwayRedis } from './redis-server.js';

/**
 * Redis the way production runs it, on loopback: a Sentinel group that fails over, a server that
 * speaks only TLS, a Redis Cluster node. Every server is a throw-away `redis-server` on a free
 * port (Debian's 7.0 binary does Sentinel and TLS itself).
 */

export const SENTINEL_GROUP = 'prober-master';
/** `requirepass` of the master and replica, and of the sentinels: a production group has both. */
export const SENTINEL_PASSWORDS = { data: 'sentinel-data-pw-4f1c', sentinel: 'sentinel-own-pw-9d27' };

export interface SentinelGroup {
  master: ThrowAwayRedis;
  replica: ThrowAwayRedis;
  sentinels: ThrowAwayRedis[];
  /** `127.0.0.1:port,…` as REDIS_SENTINELS takes it. */
  sentinelList: string;
  /** The port the sentinels name as master now. */
  masterPort(): Promise<number>;
  stop(): Promise<void>;
}

/** Sentinel timings short enough for a test: the master is down after 1 s, a failover retried after 3 s. */
function sentinelConf(masterPort: number): (dir: string) => string {
  return (dir) => {
    const file = join(dir, 'sentinel.conf');
    const lines = [
      `sentinel monitor ${SENTINEL_GROUP} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_GROUP} 1000`,
      `sentinel failover-timeout ${SENTINEL_GROUP} 3000`,
      `sentinel parallel-syncs ${SENTINEL_GROUP} 1`,
      `sentinel auth-pass ${SENTINEL_GROUP} ${SENTINEL_PASSWORDS.data}`,
      `requirepass ${SENTINEL_PASSWORDS.sentinel}`,
      // Sentinels authenticate to each other with the same password.
      `sentinel sentinel-pass ${SENTINEL_PASSWORDS.sentinel}`,
    ];
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  };
}

/** A master, one replica of it, and three sentinels watching them, ready to fail over; every one with a password. */
export async function startSentinelGroup(): Promise<SentinelGroup> {
  const { data, sentinel: sentinelPassword } = SENTINEL_PASSWORDS;
  const dataNode = (args: string[] = []) => startRedis({ args: ['--requirepass', data, '--masterauth', data, ...args], password: data });
  const master = await dataNode();
  const started: ThrowAwayRedis[] = [master];
  try {
    const replica = await dataNode(['--replicaof', '127.0.0.1', String(master.port)]);
    started.push(replica);
    const sentinels: ThrowAwayRedis[] = [];
    for (let i = 0; i < 3; i++) {
      const sentinel = await startRedis({ configFile: sentinelConf(master.port), args: ['--sentinel'], password: sentinelPassword });
      sentinels.push(sentinel);
      started.push(sentinel);
    }
    const ask = (port: number, password: string, ...args: string[]) => withClient(port, password, (c) => c.call(...(args as [string, ...string[]])));
    const askSentinel = (port: number, ...args: string[]) => ask(port, sentinelPassword, 'SENTINEL', ...args);
    await waitFor('the replica in sync', async () => /master_link_status:up/.test(String(await ask(replica.port, data, 'INFO', 'replication'))), 20_000);
    // Every sentinel must know the replica and its two peers, or there is no quorum to fail over with.
    await waitFor('the sentinels to find the replica and each other', async () => {
      for (const s of sentinels) {
        const replicas = (await askSentinel(s.port, 'REPLICAS', SENTINEL_GROUP)) as unknown[];
        const peers = (await askSentinel(s.port, 'SENTINELS', SENTINEL_GROUP)) as unknown[];
        if (replicas.length < 1 || peers.length < 2) return false;
      }
      return true;
    }, 30_000);
    return {
      master,
      replica,
      sentinels,
      sentinelList: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      masterPort: async () => Number(((await askSentinel(sentinels[0]!.port, 'GET-MASTER-ADDR-BY-NAME', SENTINEL_GROUP)) as string[])[1]),
      stop: () => stopAll(started),
    };
  } catch (err) {
    await stopAll(started);
    throw err;
  }
}

async function stopAll(servers: ThrowAwayRedis[]): Promise<void> {
  await Promise.allSettled(servers.map((s) => s.stop()));
}

async function withClient<T>(port: number, password: string, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

export interface Certificates {
  dir: string;
  /** The CA that signed the server's certificate. */
  caFile: string;
  /** Another CA, which signed nothing the server shows. */
  wrongCaFile: string;
  certFile: string;
  keyFile: string;
  /** A client certificate (and key) signed by the CA, for a server that asks for one. */
  clientCertFile: string;
  clientKeyFile: string;
}

/** A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated second CA (openssl). */
export function makeCertificates(): Certificates {
  const dir = mkdtempSync(join(tmpdir(), 'ip-tls-'));
  const at = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'wrong-ca']) {
    openssl('req', '-x509', ...ecKey, '-keyout', at(`${ca}.key`), '-out', at(`${ca}.crt`), '-days', '2', '-subj', `/CN=inventory-prober test ${ca}`);
  }
  openssl('req', ...ecKey, '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(at('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const [name, subject, ext] of [['server', '/CN=127.0.0.1', ['-extfile', at('san.ext')]], ['client', '/CN=inventory-prober', []]] as const) {
    if (name === 'client') openssl('req', ...ecKey, '-keyout', at('client.key'), '-out', at('client.csr'), '-subj', subject);
    openssl('x509', '-req', '-in', at(`${name}.csr`), '-CA', at('ca.crt'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at(`${name}.crt`), '-days', '2', ...ext);
  }
  return {
    dir,
    caFile: at('ca.crt'),
    wrongCaFile: at('wrong-ca.crt'),
    certFile: at('server.crt'),
    keyFile: at('server.key'),
    clientCertFile: at('client.crt'),
    clientKeyFile: at('client.key'),
  };
}

export interface TlsRedis {
  /** `rediss://127.0.0.1:<tls port>`. */
  url: string;
  certs: Certificates;
  stop(): Promise<void>;
}

/**
 * A redis-server with TLS on a second port (the plain one is only for the launcher's PING);
 * clients must show a certificate the CA signed (`tls-auth-clients yes`).
 */
export async function startTlsRedis(): Promise<TlsRedis> {
  const certs = makeCertificates();
  const tlsPort = await freePort();
  const server = await startRedis({
    args: ['--tls-port', String(tlsPort), '--tls-cert-file', certs.certFile, '--tls-key-file', certs.keyFile, '--tls-ca-cert-file', certs.caFile, '--tls-auth-clients', 'yes'],
  }).catch((err: unknown) => {
    rmSync(certs.dir, { recursive: true, force: true });
    throw err;
  });
  return {
    url: `rediss://127.0.0.1:${tlsPort}`,
    certs,
    async stop() {
      await server.stop();
      rmSync(certs.dir, { recursive: true, force: true });
    },
  };
}

/** One redis-server with cluster mode on (no slots assigned: enough to be recognised, and refused). */
export function startClusterNode(): Promise<ThrowAwayRedis> {
  return startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${process.pid}-${Date.now()}.conf`] });
}
