import { stringify } from 'yaml';
import type { Config, Role } from '../../src/config/types.js';
import type { Secret } from '../../src/config/secret.js';
import { startDaemon, writeConfig, type DaemonProcess } from './daemon.js';
import { fakeDevice, startInventoryServer, type FakeDevice, type InventoryServer } from './inventory-server.js';
import { freePort, startRedis, type ThrowAwayRedis } from './redis-server.js';
import { startSnmpAgent, type SnmpAgent, type SnmpAgentOptions } from './snmp-agent.js';

/**
 * The rig most end-to-end and fault tests share: SNMP agents on 127.x.y.z, an inventory listing
 * them, a short-cycle daemon config, the built daemon. Each test file keeps its own subnet and
 * Redis prefix so files can run side by side.
 */

/** `count` addresses 127.0.<subnet>.1, .2, … */
export function loopbackAddresses(subnet: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.${subnet}.${i + 1}`);
}

export type AgentOptions = Omit<SnmpAgentOptions, 'address' | 'port'>;

/** Closes every one, even when some fail: a failed start must not leave servers behind. */
async function closeAll(closables: { close(): Promise<unknown> }[]): Promise<void> {
  await Promise.allSettled(closables.map((c) => c.close()));
}

/**
 * One agent per address, all on the UDP port the first one was given, as a real fleet shares 161.
 * `opts` may differ per agent (a v3 user here, another community there).
 */
export async function startAgents(
  addresses: string[],
  opts: AgentOptions | ((address: string, index: number) => AgentOptions),
): Promise<[SnmpAgent, ...SnmpAgent[]]> {
  const optionsFor = typeof opts === 'function' ? opts : () => opts;
  const [firstAddress, ...rest] = addresses;
  if (firstAddress === undefined) throw new Error('startAgents needs at least one address');
  const first = await startSnmpAgent({ ...optionsFor(firstAddress, 0), address: firstAddress, port: 0 });
  const started = await Promise.allSettled(rest.map((address, i) => startSnmpAgent({ ...optionsFor(address, i + 1), address, port: first.port })));
  const agents: [SnmpAgent, ...SnmpAgent[]] = [first, ...started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))];
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await closeAll(agents);
    throw failed.reason;
  }
  return agents;
}

export type RowOverrides = Partial<FakeDevice> | ((index: number) => Partial<FakeDevice>);

/** Inventory rows for devices 1..n, one per address, each naming its own address as management IP. */
export function loopbackFleet(addresses: string[], community: string, rows: RowOverrides = {}): FakeDevice[] {
  const rowFor = typeof rows === 'function' ? rows : () => rows;
  return addresses.map((address, i) => fakeDevice(i + 1, { hostname: address, management_ip: address, snmp_community: community, ...rowFor(i) }));
}

export interface FleetOptions {
  token: string;
  community: string;
  addresses: string[];
  rows?: RowOverrides;
}

/** Agents answering SNMP on every address, and an inventory listing them (all Up unless `rows` says otherwise). */
export interface Fleet {
  agents: SnmpAgent[];
  inventory: InventoryServer;
  snmpPort: number;
  close(): Promise<void>;
}

export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const agents = await startAgents(opts.addresses, { community: opts.community });
  const devices = loopbackFleet(opts.addresses, opts.community, opts.rows);
  const inventory = await startInventoryServer({ token: opts.token, devices }).catch(async (err: unknown) => {
    await closeAll(agents);
    throw err;
  });
  return {
    agents,
    inventory,
    snmpPort: agents[0].port,
    close: async () => {
      await closeAll(agents);
      await inventory.close();
    },
  };
}

/** What differs between daemons of one test and the next: where the inventory is, the Redis prefix, the agents' port. */
export interface Site {
  inventoryUrl: string;
  prefix: string;
  snmpPort: number;
}

type Overrides<T> = {
  [K in keyof T]?: T[K] extends Secret | undefined ? string : T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? Overrides<T[K]> : T[K];
};
/** Config keys as in the YAML file; a key set to `undefined` is left out, so the daemon's default applies. */
export type ConfigOverrides = Overrides<Config>;
export type SnmpOverrides = NonNullable<NonNullable<ConfigOverrides['probes']>['snmp']>;

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const below = out[key];
    if (value === undefined) delete out[key];
    else if (isTree(value) && isTree(below)) out[key] = merge(below, value);
    else out[key] = value;
  }
  return out;
}

/**
 * A daemon config that sweeps every second, decides on one ICMP echo and one SNMP GET (300 ms,
 * no retry), flips after two failed checks and one good one: fast enough to watch flips happen.
 */
export function daemonYaml(site: Site, overrides: ConfigOverrides = {}): string {
  const base: Tree = {
    inventory: { url: site.inventoryUrl },
    redis: { prefix: site.prefix },
    schedule: { interval_seconds: 1, spread: 0.5 },
    probes: {
      up_when: 'all',
      icmp: { count: 1, timeout_ms: 500 },
      snmp: { version: '2c', port: site.snmpPort, timeout_ms: 300, retries: 0 },
    },
    status: { down_after: 2, up_after: 1 },
    metrics: { host: '127.0.0.1' },
  };
  return stringify(merge(base, overrides as Tree));
}

export interface RunOptions {
  token: string;
  /** REDIS_URL; leave it out to name Redis otherwise (REDIS_SENTINELS in `env`). */
  redisUrl?: string;
  /** 0 lets the daemon pick (for tests that never scrape it); absent, a free port is found and returned. */
  metricsPort?: number;
  role?: Role;
  /** More environment: LOG_LEVEL, SNMP_COMMUNITY, a PATH with fake binaries first. */
  env?: Record<string, string>;
}

export interface RunningDaemon {
  daemon: DaemonProcess;
  metricsPort: number;
}

/** `inventory-prober run` from the build, with the token, Redis and metrics port in its environment. */
export async function runDaemon(configFile: string, opts: RunOptions): Promise<RunningDaemon> {
  const metricsPort = opts.metricsPort ?? (await freePort());
  const args = ['run', '--config', configFile, ...(opts.role ? ['--role', opts.role] : [])];
  const redis: Record<string, string> = opts.redisUrl === undefined ? {} : { REDIS_URL: opts.redisUrl };
  const daemon = startDaemon(args, { INVENTORY_TOKEN: opts.token, ...redis, METRICS_PORT: String(metricsPort), ...opts.env });
  return { daemon, metricsPort };
}

export interface StackOptions extends FleetOptions {
  prefix: string;
  config?: ConfigOverrides;
  env?: Record<string, string>;
}

/** A throw-away Redis, a fleet and one `--role all` daemon probing it. */
export interface Stack extends Omit<Fleet, 'close'>, RunningDaemon {
  redis: ThrowAwayRedis;
  /** Stops the daemon with `signal`, then the fleet and Redis. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const redis = await startRedis();
  const fleet = await startFleet(opts).catch(async (err: unknown) => {
    await redis.stop();
    throw err;
  });
  try {
    const config = writeConfig(daemonYaml({ inventoryUrl: fleet.inventory.url, prefix: opts.prefix, snmpPort: fleet.snmpPort }, opts.config));
    const running = await runDaemon(config, { token: opts.token, redisUrl: redis.url, env: opts.env });
    return {
      agents: fleet.agents,
      inventory: fleet.inventory,
      snmpPort: fleet.snmpPort,
      ...running,
      redis,
      async stop(signal = 'SIGKILL') {
        await running.daemon.stop(signal);
        await fleet.close();
        await redis.stop();
      },
    };
  } catch (err) {
    await fleet.close();
    await redis.stop();
    throw err;
  }
}
