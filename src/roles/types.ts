import type { Redis } from 'ioredis';
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { DeviceSeriesStore } from '../metrics/device-series.js';
import type { Metrics } from '../metrics/metrics.js';
import type { MassOutageGuard } from '../status/mass-outage-guard.js';
import type { StatusStore } from '../status/store.js';

/** What a role is built from: one config generation plus the process's long-lived clients. */
export interface RoleContext {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  redis: Redis;
  now: () => number;
  store: StatusStore;
  series: DeviceSeriesStore;
  guard: MassOutageGuard;
  owner: string;
}

export interface RunningRole {
  running: () => boolean;
  /** Stop taking work; in-flight work finishes. */
  stop: () => Promise<unknown>;
  /** Release what the role opened (HTTP pools, probe sockets). */
  close: () => Promise<unknown>;
}
