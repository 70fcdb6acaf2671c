import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, waitFor, writeConfig, type DaemonProcess, type LogLine } from '../support/daemon.js';
import { daemonYaml, loopbackAddresses, runDaemon, startFleet, type ConfigOverrides, type Fleet } from '../support/fleet.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { startClusterNode, startTlsRedis, type TlsRedis } from '../support/redis-topologies.js';

const TOKEN = 'fault-redis-start-token-8a1d';
const COMMUNITY = 'fault-redis-start-community-2f';
/** For daemons refused before they sweep: nothing listens there, and nothing is asked. */
const NO_INVENTORY = { inventoryUrl: 'http://127.0.0.1:9/api/v1', prefix: 'fault-start', snmpPort: 161 };

/** Logs carry the error itself under `err` (type, kind, message…). */
const errMessage = (line: LogLine | undefined) => String((line?.err as { message?: unknown } | undefined)?.message);
const sweepsDone = (d: DaemonProcess) => d.logs.filter((l) => l.msg === 'sweep done').length;
const evictionWarnings = (d: DaemonProcess) => d.logs.filter((l) => l.level === 'warn' && l.maxmemoryPolicy !== undefined);

/** `run` with `overrides` and Redis at `redisUrl`; resolves with the exit code and the fatal line. */
async function refusedRun(redisUrl: string, overrides: ConfigOverrides = {}) {
  const config = writeConfig(daemonYaml(NO_INVENTORY, overrides));
  const daemon = startDaemon(['run', '--config', config], { INVENTORY_TOKEN: TOKEN, REDIS_URL: redisUrl, METRICS_PORT: '0' });
  const exit = await Promise.race([daemon.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 20_000))]);
  if (exit === 'still running') await daemon.stop('SIGKILL');
  return { exit, fatal: daemon.logs.find((l) => l.level === 'fatal'), daemon };
}

describe('Redis over TLS (rediss://) against a real redis-server with TLS on', () => {
  let redis: TlsRedis;
  let fleet: Fleet;
  let daemon: DaemonProcess | undefined;

  beforeAll(async () => {
    redis = await startTlsRedis();
    fleet = await startFleet({ token: TOKEN, community: COMMUNITY, addresses: loopbackAddresses(142, 2) });
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await fleet?.close();
    await redis?.stop();
  });

  it('sweeps and PATCHes through a TLS connection verified against redis.tls_ca_file, with a client certificate', async () => {
    const site = { inventoryUrl: fleet.inventory.url, prefix: 'fault-tls', snmpPort: fleet.snmpPort };
    const tls = { tls_ca_file: redis.certs.caFile, tls_cert_file: redis.certs.clientCertFile, tls_key_file: redis.certs.clientKeyFile };
    const config = writeConfig(daemonYaml(site, { redis: tls, status: { mass_outage: { enabled: false } } }));
    daemon = (await runDaemon(config, { token: TOKEN, redisUrl: redis.url, metricsPort: 0 })).daemon;
    await waitFor('two sweeps over TLS', () => sweepsDone(daemon!) >= 2, 30_000);
    fleet.agents[1]?.setResponding(false);
    await waitFor('the PATCH for device 2', () => fleet.inventory.patches.length > 0, 30_000);
    expect(fleet.inventory.patches.map((p) => ({ id: p.id, body: p.body }))).toEqual([{ id: 2, body: { status: false } }]);
    expect(daemon.logs.filter((l) => l.msg === 'redis unreachable, retrying')).toEqual([]);
    // Debian's redis-server defaults to noeviction: nothing to warn about.
    expect(evictionWarnings(daemon)).toEqual([]);
  }, 60_000);

  it('refuses to start when the server certificate is not signed by redis.tls_ca_file, naming the setting', async () => {
    const { exit, fatal } = await refusedRun(redis.url, { redis: { tls_ca_file: redis.certs.wrongCaFile } });
    expect(exit).toBe(2);
    expect(fatal).toMatchObject({ msg: 'redis refused at start', kind: 'redis-tls-untrusted', setting: 'redis.tls_ca_file' });
    expect(errMessage(fatal)).toMatch(/not trusted.*set redis\.tls_ca_file/);
  }, 30_000);

  it('refuses to start when redis.tls_ca_file cannot be read', async () => {
    const { exit, fatal } = await refusedRun(redis.url, { redis: { tls_ca_file: `${redis.certs.dir}/missing.crt` } });
    expect(exit).toBe(2);
    expect(fatal).toMatchObject({ kind: 'redis-tls-file', setting: 'redis.tls_ca_file' });
    expect(errMessage(fatal)).toContain('ENOENT');
  }, 30_000);
});

describe('Redis Cluster', () => {
  let node: ThrowAwayRedis;

  beforeAll(async () => {
    node = await startClusterNode();
  }, 30_000);

  afterAll(async () => {
    await node?.stop();
  });

  it('is refused at start with a clear error (our multi-key scripts need one server)', async () => {
    const { exit, fatal } = await refusedRun(node.url);
    expect(exit).toBe(2);
    expect(fatal).toMatchObject({ msg: 'redis refused at start', kind: 'redis-cluster', setting: 'redis.url' });
    expect(errMessage(fatal)).toMatch(/Redis Cluster is not supported/);
  }, 30_000);

  it('is refused as soon as it answers when it was not up at start', async () => {
    await node.kill();
    const config = writeConfig(daemonYaml(NO_INVENTORY));
    const daemon = startDaemon(['run', '--config', config], { INVENTORY_TOKEN: TOKEN, REDIS_URL: node.url, METRICS_PORT: '0' });
    try {
      await waitFor('the daemon running without Redis', () => daemon.logs.some((l) => l.msg === 'inventory-prober running'), 20_000);
      await node.restart();
      const exit = await Promise.race([daemon.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 20_000))]);
      expect(exit).toBe(2);
      expect(daemon.logs.find((l) => l.level === 'fatal')).toMatchObject({ kind: 'redis-cluster', setting: 'redis.url' });
    } finally {
      await daemon.stop('SIGKILL');
    }
  }, 60_000);
});

describe('maxmemory-policy', () => {
  let redis: ThrowAwayRedis;
  let daemon: DaemonProcess | undefined;

  beforeAll(async () => {
    redis = await startRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] });
  }, 30_000);

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await redis?.stop();
  });

  it('warns at start when Redis may evict keys, and keeps running', async () => {
    const config = writeConfig(daemonYaml(NO_INVENTORY));
    daemon = startDaemon(['run', '--config', config], { INVENTORY_TOKEN: TOKEN, REDIS_URL: redis.url, METRICS_PORT: '0' });
    const [warning] = await waitFor('the eviction warning', () => evictionWarnings(daemon!).length > 0 && evictionWarnings(daemon!), 20_000);
    expect(warning).toMatchObject({ component: 'redis', maxmemoryPolicy: 'allkeys-lru', hint: 'set maxmemory-policy noeviction on the Redis server' });
    await waitFor('the daemon running', () => daemon!.logs.some((l) => l.msg === 'inventory-prober running'), 20_000);
    expect(daemon.child.exitCode).toBeNull();
  }, 30_000);
});
