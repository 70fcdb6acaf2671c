/**
 * Every Redis key the prober reads or writes, built here and nowhere else, so the keyspace can
 * be read in one screen: who owns each key, its type, how long it lives and whether it holds a
 * secret (docs/redis.md lists the protection those need). `prefix` is `redis.prefix`.
 *
 * BullMQ builds its own keys under `<prefix>:<queue>:` (queue names in queue/jobs.ts): job
 * hashes, waiting/delayed/active sets, deduplication ids. Their job data holds device ids,
 * names and targets, never a community or a v3 key (queue/probe-queue.ts strips the community;
 * the worker reads it from deviceCommunities).
 */
export const redisKeys = {
  /** owner status/store.ts · hash (hysteresis state, last observed/written status) · TTL 7 d after the last check · no secret */
  deviceState: (prefix: string, deviceId: number) => `${prefix}:device:${deviceId}`,

  /** owner inventory/details.ts · hash (updated_at, management_ip, snmp_community) · TTL 7 d · SECRET: the SNMP community in clear */
  deviceDetail: (prefix: string, deviceId: number) => `${prefix}:detail:${deviceId}`,

  /** owner inventory/communities.ts · hash device id → the device's own SNMP community (probe jobs carry none) · no TTL, fields dropped when the device leaves or loses it · SECRET: communities in clear */
  deviceCommunities: (prefix: string) => `${prefix}:communities`,

  /** owner metrics/device-series.ts · hash, one JSON field per device (name, org, status, figures) · no TTL, fields dropped when the device leaves the inventory · no secret */
  deviceSeries: (prefix: string) => `${prefix}:series`,

  /** owner status/flip-log.ts · list of the last 50 flips (JSON) · no TTL, capped · no secret */
  flips: (prefix: string) => `${prefix}:flips`,

  /** owner status/mass-outage-guard.ts · string counter per time bucket (checks, down, held) · TTL 3 × interval · no secret */
  guardBucket: (prefix: string, kind: 'checks' | 'down' | 'held', bucket: number) => `${prefix}:guard:${kind}:${bucket}`,

  /** owner queue/pending-probes.ts · hash device id → cycle of its queued probe · no TTL, claims released by the worker · no secret */
  pendingProbes: (prefix: string) => `${prefix}:probe:pending`,

  /** owner metrics/leader.ts · string (owner id of the replica exporting per-device series) · TTL 7.5 s (LEADER_TTL_MS), renewed every 2.5 s · no secret */
  metricsLeader: (prefix: string) => `${prefix}:metrics:leader`,

  /** owner scheduler/cycle-lock.ts · string (owner id, or "skipped") deciding who sweeps a cycle · TTL max(3 × interval, 60 s) · no secret */
  sweepCycle: (prefix: string, cycle: number) => `${prefix}:sweep:cycle:${cycle}`,

  /** owner scheduler/cycle-lock.ts · string (owner id) while a sweep runs · TTL 8 s (RUNNING_TTL_MS), renewed every 2.5 s · no secret */
  sweepRunning: (prefix: string) => `${prefix}:sweep:running`,

  /** owner scheduler/cycle-sweep.ts · string (ms since epoch of the last complete sweep; read by /readyz and /metrics) · no TTL · no secret */
  lastSweepSuccess: (prefix: string) => `${prefix}:sweep:last_success`,

  /** owner scheduler/cycle-sweep.ts · string (JSON figures of the last sweep; read by the status page) · no TTL · no secret */
  lastSweepSummary: (prefix: string) => `${prefix}:sweep:last_summary`,

  /** owner scheduler/fleet-membership.ts · set of the device ids one sweep listed · TTL 24 h, renamed to fleetCurrent when complete · no secret */
  fleetOfCycle: (prefix: string, cycle: number) => `${prefix}:fleet:${cycle}`,

  /** owner scheduler/fleet-membership.ts · set of the device ids the last complete sweep listed (read by the status page) · no TTL · no secret */
  fleetCurrent: (prefix: string) => `${prefix}:fleet:current`,
} as const;
