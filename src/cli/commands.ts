import { loadConfig, renderEffectiveConfig } from '../config/index.js';
import type { Config, Role } from '../config/types.js';
import { createLogger } from '../log/logger.js';
import { runDemo } from '../demo/demo.js';
import { runDaemon } from '../main.js';
import { logRedisRefused, RedisStartError } from '../redis/start-check.js';
import { probeHost } from './probe-host.js';
import { sweepOnce } from './sweep-once.js';

export const USAGE = `Usage: inventory-prober <command> [options]

Commands:
  run [--config FILE] [--role all|scheduler|worker]   run the daemon (default role: all)
  check-config [--config FILE]                        validate and print the effective config (secrets as <secret>)
  probe HOST [--community C] [--snmp-version 1|2c|3]  one ICMP + SNMP check of HOST, printed for a person
  sweep --once [--dry-run] [--config FILE]            one sweep in the foreground, printed as a table
  demo                                                the whole system on loopback with a simulated fleet

Environment: INVENTORY_URL, INVENTORY_TOKEN, INVENTORY_TOKEN_FILE, REDIS_URL or REDIS_SENTINELS
  + REDIS_SENTINEL_NAME, REDIS_PASSWORD(_FILE), REDIS_SENTINEL_PASSWORD(_FILE), METRICS_PORT, LOG_LEVEL,
  SNMP_COMMUNITY(_FILE), SNMP_V3_AUTH_KEY(_FILE), SNMP_V3_PRIV_KEY(_FILE).
Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage.
`;

type Flags = Record<string, string | boolean | undefined>;
const ROLES: Role[] = ['all', 'scheduler', 'worker'];

export async function main(args: string[], flags: Flags): Promise<number | undefined> {
  const [command, ...rest] = args;
  if (flags.help || !command) return usage(command ? 0 : 2);
  switch (command) {
    case 'run':
      return run(flags);
    case 'check-config':
      return checkConfig(flags);
    case 'probe':
      return probe(rest[0], flags);
    case 'sweep':
      if (!flags.once) return usageError('sweep needs --once (the daemon sweeps on its schedule: use `run`)');
      return withConfig(flags, (config) => sweepOnce(config, { dryRun: flags['dry-run'] === true }));
    case 'demo':
      return runDemo({ env: process.env, out: process.stdout }).then((code) => (code === 0 ? undefined : code));
    default:
      return usageError(`unknown command "${command}"`);
  }
}

async function run(flags: Flags): Promise<number | undefined> {
  const role = (flags.role ?? 'all') as Role;
  if (!ROLES.includes(role)) return usageError(`--role must be one of ${ROLES.join(', ')}; got "${String(flags.role)}"`);
  return withConfig(flags, async (config) => {
    const logger = createLogger(config.log.level);
    const reload = () => loadConfig({ file: flagString(flags.config), env: process.env });
    try {
      await runDaemon(config, role, logger, { reload });
    } catch (err) {
      if (!(err instanceof RedisStartError)) throw err;
      logRedisRefused(logger, err);
      return err.exitCode;
    }
    return undefined; // keep running until a signal
  });
}

async function checkConfig(flags: Flags): Promise<number> {
  return withConfig(flags, (config) => {
    process.stdout.write(renderEffectiveConfig(config));
    process.stderr.write('configuration is valid\n');
    return 0;
  }) as Promise<number>;
}

async function probe(host: string | undefined, flags: Flags): Promise<number> {
  if (!host) return usageError('probe needs a HOST');
  const version = flags['snmp-version'];
  if (version !== undefined && version !== '1' && version !== '2c' && version !== '3') return usageError('--snmp-version must be 1, 2c or 3');
  const loaded = await loadConfig({ file: flagString(flags.config), env: process.env, requireInventory: false });
  if (!loaded.ok) return reportProblems(loaded.problems);
  return probeHost(host, loaded.config, { community: flagString(flags.community), version });
}

async function withConfig(flags: Flags, fn: (config: Config) => Promise<number | undefined> | number | undefined): Promise<number | undefined> {
  const loaded = await loadConfig({ file: flagString(flags.config), env: process.env });
  if (!loaded.ok) return reportProblems(loaded.problems);
  return fn(loaded.config);
}

function reportProblems(problems: { key: string; message: string }[]): number {
  process.stderr.write(`inventory-prober: invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n`);
  for (const p of problems) process.stderr.write(`  ${p.key}: ${p.message}\n`);
  return 2;
}

const flagString = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);

function usage(code: number): number {
  (code === 0 ? process.stdout : process.stderr).write(USAGE);
  return code;
}

function usageError(message: string): number {
  process.stderr.write(`inventory-prober: ${message}\n\n${USAGE}`);
  return 2;
}
