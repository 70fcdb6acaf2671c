import type { Queue, Worker } from 'bullmq';
import type { Config } from '../config/types.js';
import { InventoryClient } from '../inventory/client.js';
import { DeviceCommunities } from '../inventory/communities.js';
import { createInventoryHttp } from '../inventory/http.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { usableIcmpProbe } from '../probes/icmp-engine.js';
import { createProbes, icmpEngines, icmpSettings } from '../probes/registry.js';
import type { Probe } from '../probes/types.js';
import type { ReportJobData } from '../queue/jobs.js';
import { PendingProbes } from '../queue/pending-probes.js';
import { startReportWorker } from '../reporter/report-worker.js';
import { FlipLog } from '../status/flip-log.js';
import { startProbeWorker } from '../worker/probe-worker.js';
import type { RoleContext, RunningRole } from './types.js';

/** The worker role: the probe worker (check → hysteresis → flip) and the report worker (PATCH). */
export async function startWorkerRole(ctx: RoleContext, reportQueue: Queue<ReportJobData>): Promise<RunningRole> {
  const { config, logger, metrics, redis, now, store, series, guard } = ctx;
  const probes = createProbes(config, { icmp: false });
  if (config.probes.icmp.enabled) probes.icmp = await icmpProbe(config, logger, metrics);
  else metrics.icmpPermitted.set(1); // nothing to permit: the alert on 0 must stay quiet
  guard.start();
  // The reporter's client does not retry by itself: BullMQ's backoff owns PATCH retries.
  const http = createInventoryHttp({ url: config.inventory.url, token: config.inventory.token, timeoutMs: config.inventory.timeout_ms, retries: 0, metrics, logger });
  const inventory = new InventoryClient(http);
  const flips = new FlipLog(redis, config.redis.prefix);
  const workers: Worker[] = [
    startProbeWorker({ config, probes, store, pending: new PendingProbes(redis, config.redis.prefix), communities: new DeviceCommunities(redis, config.redis.prefix), series, flips, guard, reportQueue, metrics, logger, now }, redis, config.redis.prefix),
    startReportWorker({ config, inventory, store, metrics, logger, now }, redis, config.redis.prefix),
  ];
  return {
    running: () => workers.every((w) => w.isRunning()),
    stop: async () => {
      await Promise.all(workers.map((w) => w.close()));
      await guard.stop();
    },
    close: async () => {
      await Promise.all(Object.values(probes).map((p) => p.close?.()));
      await http.close();
    },
  };
}

/**
 * Checks the configured ICMP engine itself, so a missing addon or fping is reported as clearly as
 * a denied socket, and an engine that fails where a fallback works (native → fping → ping; above
 * all an fping that cannot hear replies on this host) is replaced (see usableIcmpProbe) rather
 * than left to call every device down.
 */
async function icmpProbe(config: Config, logger: Logger, metrics: Metrics): Promise<Probe> {
  const icmp = await usableIcmpProbe(config.probes.icmp.engine, (engine) => icmpEngines[engine](icmpSettings(config)));
  metrics.icmpPermitted.set(icmp.permission.ok ? 1 : 0);
  if (icmp.fellBack) {
    const { from, reason, hint } = icmp.fellBack;
    logger.error({ component: 'worker', configured: from, using: icmp.engine, reason, hint }, 'ICMP engine failed its start-up check: checking ICMP with a fallback engine');
  } else if (!icmp.permission.ok) {
    logger.error({ component: 'worker', reason: icmp.permission.reason, hint: icmp.permission.hint }, 'ICMP is not permitted: every ICMP probe will be an error and count against no device');
  } else {
    logger.info({ component: 'worker', engine: icmp.engine, sockets: icmp.sockets }, 'ICMP engine ready');
  }
  return icmp.probe;
}
