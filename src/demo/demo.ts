import { stringify } from 'yaml';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { createLogger } from '../log/logger.js';
import { runDaemon } from '../main.js';
import { DEFAULTS } from '../config/defaults.js';
import { usableIcmpProbe } from '../probes/icmp-engine.js';
import { icmpEngines } from '../probes/registry.js';
import { startInventoryServer, type InventoryServer } from './inventory-server.js';
import { freePort, startRedis } from './redis-server.js';
import { startSnmpAgent, type SnmpAgent } from './snmp-agent.js';
import { DEMO_COMMUNITY, demoFleet } from './fleet.js';
import { startChaos } from './chaos.js';

const DEMO_TOKEN = 'demo-token-not-secret';

export interface DemoOptions {
  env: NodeJS.ProcessEnv;
  out: NodeJS.WritableStream;
}

/**
 * `inventory-prober demo`: the whole system on one machine with nothing to configure — an
 * inventory that implements the API spec, SNMP agents on loopback, Redis, and the daemon —
 * with a device going down or coming back every ~20 s so flips show up within a minute.
 */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const say = (line: string) => opts.out.write(`[demo] ${line}\n`);
  const redis = await demoRedis(opts.env, say);
  if (!redis) return 1;
  const size = Number(opts.env.DEMO_DEVICES ?? 48);
  const fleet = demoFleet(size);
  const agents = await startAgents(fleet.map((d) => d.hostname));
  const inventory = await startInventoryServer({ token: DEMO_TOKEN, devices: fleet });
  // Check the engine the daemon will use (the default, or the fallback its worker will pick), so
  // a host where no engine may send ICMP is said here too.
  const chosen = await usableIcmpProbe(DEFAULTS.probes.icmp.engine, (engine) => icmpEngines[engine]({ count: 1, timeoutMs: 1000 }));
  await chosen.probe.close?.();
  const icmp = chosen.permission;
  if (!icmp.ok) say(`ICMP is not permitted here (${icmp.reason}); running SNMP-only. Fix: ${icmp.hint}`);

  const config = await demoConfig(opts.env, inventory.url, redis.url, agents[0]?.port ?? 161, icmp.ok, Number(opts.env.METRICS_PORT) || (await freePort()));
  const logger = createLogger(config.log.level);
  const daemon = await runDaemon(config, 'all', logger);
  const chaos = startChaos({ agents, fleet, everyMs: Number(opts.env.DEMO_FLIP_SECONDS ?? 20) * 1000, say });
  reportPatches(inventory, fleet, say);

  say(`inventory API   ${inventory.url}/inventory_device/  (Bearer ${DEMO_TOKEN})`);
  say(`status page     http://127.0.0.1:${daemon.httpPort}/`);
  say(`metrics         http://127.0.0.1:${daemon.httpPort}/metrics`);
  say(`health          http://127.0.0.1:${daemon.httpPort}/healthz  /readyz`);
  say(`${fleet.length} devices on 127.0.20.1-${fleet.length}, sweep every ${config.schedule.interval_seconds} s; Ctrl-C stops everything`);

  daemon.shutdown.add('demo', async () => {
    chaos.stop();
    await Promise.all(agents.map((a) => a.close()));
    await inventory.close();
    await redis.stop?.();
  });
  return 0;
}

async function demoRedis(env: NodeJS.ProcessEnv, say: (l: string) => void): Promise<{ url: string; stop?: () => Promise<void> } | undefined> {
  if (env.REDIS_URL) return { url: env.REDIS_URL };
  try {
    const redis = await startRedis();
    // Even a forced exit (second Ctrl-C, grace exceeded) must not leave the demo's Redis behind.
    process.once('exit', () => redis.process.kill('SIGKILL'));
    say(`started a throw-away redis-server on ${redis.url}`);
    return redis;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    say(missing ? 'redis-server is not installed: run `sudo apt-get install redis-server` (or set REDIS_URL=redis://host:6379)' : `could not start redis-server: ${(err as Error).message}`);
    return undefined;
  }
}

/** One agent per device address, all on the same UDP port, as the prober expects. */
async function startAgents(addresses: string[]): Promise<SnmpAgent[]> {
  const first = await startSnmpAgent({ address: addresses[0] as string, port: 0, community: DEMO_COMMUNITY });
  const rest = await Promise.all(addresses.slice(1).map((address) => startSnmpAgent({ address, port: first.port, community: DEMO_COMMUNITY })));
  return [first, ...rest];
}

/** The demo's settings, loaded through the same loader and validation as a user's file. */
async function demoConfig(env: NodeJS.ProcessEnv, inventoryUrl: string, redisUrl: string, snmpPort: number, icmp: boolean, metricsPort: number): Promise<Config> {
  const yaml = stringify({
    inventory: { url: inventoryUrl },
    redis: { url: redisUrl, prefix: `demo-${process.pid}` },
    schedule: { interval_seconds: Number(env.DEMO_INTERVAL_SECONDS ?? 5), spread: 0.6 },
    probes: {
      // ICMP to loopback always answers, so "all" lets a silent SNMP agent take a device down.
      up_when: icmp ? 'all' : 'snmp',
      icmp: { enabled: icmp, count: 1, timeout_ms: 500 },
      snmp: { version: '2c', port: snmpPort, timeout_ms: 500, retries: 0 },
    },
    status: { down_after: 2, up_after: 1 },
    metrics: { host: '127.0.0.1', port: metricsPort },
    log: { level: env.LOG_LEVEL ?? 'info' },
    shutdown: { grace_seconds: 10 },
  });
  const result = await loadConfig({ file: 'demo.yaml', env: { INVENTORY_TOKEN: DEMO_TOKEN }, readFile: async () => yaml });
  if (!result.ok) throw new Error(`demo config is invalid: ${result.problems.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
  return result.config;
}

function reportPatches(inventory: InventoryServer, fleet: { id: number; name: string }[], say: (l: string) => void): void {
  let seen = 0;
  const timer = setInterval(() => {
    for (const p of inventory.patches.slice(seen)) {
      const name = fleet.find((d) => d.id === p.id)?.name ?? String(p.id);
      say(`inventory received PATCH /inventory_device/${p.id}/ ${JSON.stringify(p.body)}  (${name})`);
    }
    seen = inventory.patches.length;
  }, 500);
  timer.unref();
}

