import type { Secret } from './secret.js';

/** How the probes of one check combine into the device's verdict. */
export type UpWhen = 'any' | 'all' | 'icmp' | 'snmp';
export type SnmpVersion = '1' | '2c' | '3';
export type SnmpAuthProtocol = 'md5' | 'sha' | 'sha224' | 'sha256' | 'sha384' | 'sha512';
export type SnmpPrivProtocol = 'des' | 'aes' | 'aes256b' | 'aes256r';
export type Role = 'all' | 'scheduler' | 'worker';
/** Per-device series: none, the decided state, or also raw probe figures. */
export type PerDeviceMetrics = 'off' | 'basic' | 'full';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
/** ICMP: in-process sockets (`native`), checks batched into shared `fping` processes, or one `ping` process per check. */
export type IcmpEngine = 'native' | 'fping' | 'ping';
/** SNMP: a net-snmp session (socket) per probe, or one shared socket for every v1/v2c GET. */
export type SnmpEngine = 'session-per-probe' | 'shared';

/**
 * One routing rule: devices it matches are checked from its groups. An empty `match` list matches
 * every organization (or type); `quorum` says how many groups must hold a device Down.
 */
export interface RoutingRule {
  match: { organization: number[]; type: number[] };
  groups: string[];
  quorum?: number;
}

export interface SnmpV3Config {
  user: string;
  auth_protocol: SnmpAuthProtocol;
  auth_key: Secret | undefined;
  auth_key_file: string | undefined;
  priv_protocol: SnmpPrivProtocol;
  priv_key: Secret | undefined;
  priv_key_file: string | undefined;
}

/**
 * Where Redis is: one server (`url`, `redis://` or `rediss://`) or a Sentinel group (`sentinels`
 * + `sentinel_name`), never both. TLS files apply to a `rediss://` URL.
 */
export interface RedisConfig {
  url: Secret | undefined;
  /** Sentinels as `host:port`; the master is whichever they name, before and after a failover. */
  sentinels: string[];
  sentinel_name: string | undefined;
  sentinel_password: Secret | undefined;
  sentinel_password_file: string | undefined;
  /** The data nodes' password under Sentinel (a single server's rides in its URL). */
  password: Secret | undefined;
  password_file: string | undefined;
  tls_ca_file: string | undefined;
  tls_cert_file: string | undefined;
  tls_key_file: string | undefined;
  prefix: string;
}

/**
 * The effective configuration. Keys mirror the YAML file one to one (snake_case),
 * so the docs, `config/default.yaml` and the code share one vocabulary.
 */
export interface Config {
  inventory: {
    url: string;
    token: Secret | undefined;
    token_file: string | undefined;
    page_size: number;
    filters: { organization: number[]; type: number[] };
    timeout_ms: number;
    retries: number;
    page_concurrency: number;
    detail_concurrency: number;
  };
  redis: RedisConfig;
  schedule: { interval_seconds: number; cron: string | undefined; spread: number };
  probes: {
    up_when: UpWhen;
    icmp: { enabled: boolean; count: number; timeout_ms: number; engine: IcmpEngine };
    snmp: {
      enabled: boolean;
      version: SnmpVersion;
      port: number;
      timeout_ms: number;
      retries: number;
      community: Secret | undefined;
      community_file: string | undefined;
      v3: SnmpV3Config;
      engine: SnmpEngine;
    };
  };
  /** Which probe groups (site-local worker pools) check which devices; first matching rule wins. */
  routing: { rules: RoutingRule[] };
  status: {
    down_after: number;
    up_after: number;
    mass_outage: { enabled: boolean; share: number; min_devices: number };
  };
  worker: {
    /** Device checks one worker process runs at once. */
    concurrency: number;
    /** Devices per probe job: the scheduler groups devices of the same phase second into one job. */
    batch_size: number;
    /** The probe groups this process takes work from (each is its own probe queue). */
    groups: string[];
    /** Whether this worker also PATCHes flips to the inventory; site workers set false and need no inventory access. */
    report: boolean;
  };
  reporter: { patches_per_second: number; attempts: number; backoff_ms: number; max_backoff_ms: number };
  metrics: { port: number; host: string; per_device: PerDeviceMetrics };
  log: { level: LogLevel };
  shutdown: { grace_seconds: number };
}
