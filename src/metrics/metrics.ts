import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const P = 'inventory_prober_';

/**
 * Every metric the prober exports, defined once. Built on an injected registry so each test
 * (and each process) gets its own. Labels never carry secrets: no community, no token, no URL.
 */
export class Metrics {
  readonly registry: Registry;

  readonly sweepsTotal: Counter<'result'>;
  readonly sweepDurationSeconds: Histogram;
  readonly sweepDevices: Gauge<'result'>;
  readonly lastSweepSuccessTimestampSeconds: Gauge;
  readonly invalidDevices: Gauge;
  readonly invalidDevicesTotal: Counter<'reason'>;

  readonly sweepCycleRatio: Histogram;
  readonly sweepInventoryRequests: Gauge<'endpoint'>;
  readonly sweepDevicesAwaitingDetail: Gauge;
  readonly devicesAwaitingDetailTotal: Counter;

  readonly inventoryRequestsTotal: Counter<'method' | 'endpoint' | 'code'>;
  readonly inventoryRequestDurationSeconds: Histogram<'method' | 'endpoint'>;
  readonly inventoryRequestsInFlight: Gauge<'endpoint'>;

  readonly probesTotal: Counter<'probe' | 'outcome'>;
  readonly probeDurationSeconds: Histogram<'probe' | 'outcome'>;
  readonly checksTotal: Counter<'outcome'>;

  readonly flipsTotal: Counter<'to'>;
  readonly rebootsTotal: Counter;
  readonly flipsHeldTotal: Counter;
  readonly flipsHeld: Gauge;

  readonly patchesTotal: Counter<'result'>;
  readonly patchFailuresTotal: Counter<'reason'>;
  readonly patchQueueDepth: Gauge;
  readonly queueJobs: Gauge<'queue' | 'state'>;
  readonly groupDevices: Gauge<'group'>;
  readonly groupDevicesNotProbed: Gauge<'group'>;
  readonly icmpPermitted: Gauge;
  readonly configLastReloadSuccessful: Gauge;
  readonly configLastReloadSuccessTimestampSeconds: Gauge;
  readonly metricsLeader: Gauge;

  constructor(registry = new Registry(), options: { defaultMetrics?: boolean } = {}) {
    this.registry = registry;
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: P });
    const r = [registry];

    this.sweepsTotal = new Counter({
      name: `${P}sweeps_total`,
      help: 'Inventory sweeps by result: ok, failed, or skipped because another was still running.',
      labelNames: ['result'],
      registers: r,
    });
    this.sweepDurationSeconds = new Histogram({
      name: `${P}sweep_duration_seconds`,
      help: 'Time to page through the inventory and enqueue one probe per device.',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
      registers: r,
    });
    this.sweepDevices = new Gauge({
      name: `${P}sweep_devices`,
      help: 'Devices seen by the last sweep, by result: enqueued, duplicate, invalid, already_pending.',
      labelNames: ['result'],
      registers: r,
    });
    this.lastSweepSuccessTimestampSeconds = new Gauge({
      name: `${P}last_sweep_success_timestamp_seconds`,
      help: 'Unix time at which the last sweep (by any replica) completed successfully; 0 until one has.',
      registers: r,
    });
    this.invalidDevices = new Gauge({
      name: `${P}invalid_devices`,
      help: 'Devices skipped by the last sweep because their inventory record is malformed or their target is unsafe.',
      registers: r,
    });
    this.invalidDevicesTotal = new Counter({
      name: `${P}invalid_devices_total`,
      help: 'Inventory rows skipped because they were malformed or named an unsafe probe target, by reason.',
      labelNames: ['reason'],
      registers: r,
    });
    this.sweepCycleRatio = new Histogram({
      name: `${P}sweep_cycle_ratio`,
      help: 'Duration of each sweep as a share of its cycle: past 1 the next cycle is skipped (InventoryProberSweepOverrun).',
      buckets: [0.1, 0.25, 0.5, 0.75, 0.9, 1, 1.5, 2],
      registers: r,
    });
    this.sweepInventoryRequests = new Gauge({
      name: `${P}sweep_inventory_requests`,
      help: 'Inventory requests started during the last sweep (retries included), by endpoint kind: list, detail.',
      labelNames: ['endpoint'],
      registers: r,
    });
    this.sweepDevicesAwaitingDetail = new Gauge({
      name: `${P}sweep_devices_awaiting_detail`,
      help: 'Devices the last sweep listed but did not probe because their detail (management_ip, snmp_community) had not arrived yet.',
      registers: r,
    });
    this.devicesAwaitingDetailTotal = new Counter({
      name: `${P}devices_awaiting_detail_total`,
      help: 'Device checks skipped for a cycle because the device\'s detail had not arrived by the end of that sweep.',
      registers: r,
    });
    this.inventoryRequestsTotal = new Counter({
      name: `${P}inventory_requests_total`,
      help: 'HTTP requests to the inventory API by method, endpoint kind (list, detail, patch) and status code (or error kind when no response).',
      labelNames: ['method', 'endpoint', 'code'],
      registers: r,
    });
    this.inventoryRequestDurationSeconds = new Histogram({
      name: `${P}inventory_request_duration_seconds`,
      help: 'Latency of inventory API requests (one attempt, first byte sent to last byte read), by endpoint kind: list, detail, patch.',
      labelNames: ['method', 'endpoint'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
    this.inventoryRequestsInFlight = new Gauge({
      name: `${P}inventory_requests_in_flight`,
      help: 'Inventory requests in flight now, by endpoint kind; never above inventory.page_concurrency (list) / inventory.detail_concurrency (detail).',
      labelNames: ['endpoint'],
      registers: r,
    });
    this.probesTotal = new Counter({
      name: `${P}probes_total`,
      help: 'Probes run, by probe kind and outcome (up, down, error = the prober\'s own fault).',
      labelNames: ['probe', 'outcome'],
      registers: r,
    });
    this.probeDurationSeconds = new Histogram({
      name: `${P}probe_duration_seconds`,
      help: 'Duration of one probe, by probe kind and outcome.',
      labelNames: ['probe', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers: r,
    });
    this.checksTotal = new Counter({
      name: `${P}checks_total`,
      help: 'Device checks (all probes of one device combined by up_when), by verdict.',
      labelNames: ['outcome'],
      registers: r,
    });
    this.flipsTotal = new Counter({
      name: `${P}flips_total`,
      help: 'Confirmed device status changes (after hysteresis), by new status.',
      labelNames: ['to'],
      registers: r,
    });
    this.rebootsTotal = new Counter({
      name: `${P}reboots_total`,
      help: 'Device reboots detected from sysUpTime going backwards (2^32 wrap excluded).',
      registers: r,
    });
    this.flipsHeldTotal = new Counter({
      name: `${P}flips_held_total`,
      help: 'Down flips this process held back because the mass-outage guard was tripped.',
      registers: r,
    });
    this.flipsHeld = new Gauge({
      name: `${P}flips_held`,
      help: 'Down flips held by the mass-outage guard within the last interval, cluster-wide (0 = guard not tripped).',
      registers: r,
    });
    this.patchesTotal = new Counter({
      name: `${P}patches_total`,
      help: 'Status PATCH jobs by result: written, skipped (nothing to change), gone (404), failed attempt.',
      labelNames: ['result'],
      registers: r,
    });
    this.patchFailuresTotal = new Counter({
      name: `${P}patch_failures_total`,
      help: 'Failed PATCH attempts by reason (network, http_5xx, http_429, unauthorized, rejected, not_found).',
      labelNames: ['reason'],
      registers: r,
    });
    this.patchQueueDepth = new Gauge({
      name: `${P}patch_queue_depth`,
      help: 'Status writes waiting to be PATCHed (waiting + delayed + active).',
      registers: r,
    });
    this.icmpPermitted = new Gauge({
      name: `${P}icmp_permitted`,
      help: 'Whether this process may send ICMP echo (1) or every ICMP probe is a prober-side error (0).',
      registers: r,
    });
    this.configLastReloadSuccessful = new Gauge({
      name: `${P}config_last_reload_successful`,
      help: 'Whether the last configuration reload (SIGHUP or POST /-/reload) succeeded (1) or was rejected (0).',
      registers: r,
    });
    this.configLastReloadSuccessful.set(1);
    this.configLastReloadSuccessTimestampSeconds = new Gauge({
      name: `${P}config_last_reload_success_timestamp_seconds`,
      help: 'Unix time of the last successful configuration load (start-up or reload).',
      registers: r,
    });
    this.configLastReloadSuccessTimestampSeconds.set(Date.now() / 1000);
    this.metricsLeader = new Gauge({
      name: `${P}metrics_leader`,
      help: 'Whether this process is the one exporting per-device series (1) or not (0).',
      registers: r,
    });
    this.queueJobs = new Gauge({
      name: `${P}queue_jobs`,
      help: 'Jobs in the BullMQ queues, by queue and state.',
      labelNames: ['queue', 'state'],
      registers: r,
    });
    this.groupDevices = new Gauge({
      name: `${P}group_devices`,
      help: 'Devices the last sweep routed to each probe group (a device several groups vote on counts in each).',
      labelNames: ['group'],
      registers: r,
    });
    this.groupDevicesNotProbed = new Gauge({
      name: `${P}group_devices_not_probed`,
      help: 'Devices of each probe group that no worker of the group checked for two cycles (as of the last sweep); they keep their status.',
      labelNames: ['group'],
      registers: r,
    });
  }
}
