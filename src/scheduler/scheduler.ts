import { Cron } from 'croner';
import { ProberError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { RUNNING_RENEW_MS, type CycleLock } from './cycle-lock.js';
import { SweepIncompleteError, type SweepSummary } from './sweep.js';

export interface Cadence {
  /** Fixed interval: cycles start at wall-clock multiples of it, the same on every replica. */
  intervalSeconds: number;
  /** Or a cron pattern (seconds field allowed); the interval then is the gap to the next run. */
  cron?: string;
}

export interface SchedulerDeps {
  lock: CycleLock;
  sweep: (cycle: number, intervalMs: number, signal: AbortSignal) => Promise<SweepSummary>;
  now: () => number;
  metrics: Metrics;
  logger: Logger;
}

/**
 * Drives sweeps from croner. Every replica ticks; the CycleLock decides which one sweeps a
 * cycle. The sweep runs in the background of the tick so a slow inventory never blocks ticks.
 */
export class Scheduler {
  private cron?: Cron;
  private lastCycle = -1;
  private running?: Promise<void>;
  private claiming = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly deps: SchedulerDeps,
    private readonly cadence: Cadence,
  ) {}

  start(): void {
    const pattern = this.cadence.cron ?? '* * * * * *';
    this.cron = new Cron(pattern, { protect: true }, () => void this.tick());
    // Interval cycles are wall-clock slots, so sweeping the current one at start is safe; a cron
    // cycle is only known once croner fires it.
    if (!this.cadence.cron) void this.tick();
  }

  /** Starts the sweep of the current cycle if it is new and this replica wins it. */
  async tick(): Promise<void> {
    const { cycle, intervalMs } = this.currentCycle();
    // A claim still waiting on Redis (an outage queues commands) is not a sweep in progress.
    if (cycle === this.lastCycle || this.claiming || this.abort.signal.aborted) return;
    this.lastCycle = cycle;
    if (this.running) {
      // Our own sweep still runs: skip the cycle cluster-wide, unless another replica took it.
      if (await this.deps.lock.skip(cycle, intervalMs).catch(() => true)) this.skip(cycle);
      return;
    }
    let claim;
    this.claiming = true;
    try {
      claim = await this.deps.lock.claim(cycle, intervalMs);
    } catch (err) {
      this.deps.logger.warn({ cycle, err }, 'could not claim sweep (redis unreachable?)');
      return;
    } finally {
      this.claiming = false;
    }
    if (claim === 'busy') return this.skip(cycle);
    if (claim === 'claimed') this.running = this.runSweep(cycle, intervalMs).finally(() => (this.running = undefined));
  }

  /** The previous sweep (here or on another replica) still runs: this cycle is not doubled. */
  private skip(cycle: number): void {
    this.deps.metrics.sweepsTotal.inc({ result: 'skipped' });
    this.deps.logger.warn({ cycle }, 'sweep skipped: the previous sweep is still running');
  }

  private async runSweep(cycle: number, intervalMs: number): Promise<void> {
    const { metrics, logger } = this.deps;
    const keepAlive = setInterval(() => void this.deps.lock.extend().catch(() => {}), RUNNING_RENEW_MS);
    const endTimer = metrics.sweepDurationSeconds.startTimer();
    const startedMs = this.deps.now();
    // The share of its cycle a sweep took: near 1, the next cycle is skipped (InventoryProberSweepOverrun).
    const ended = () => {
      endTimer();
      metrics.sweepCycleRatio.observe((this.deps.now() - startedMs) / intervalMs);
    };
    try {
      const summary = await this.deps.sweep(cycle, intervalMs, this.abort.signal);
      ended();
      metrics.sweepsTotal.inc({ result: 'ok' });
      this.recordFigures(summary);
      logger.info({ ...summary }, 'sweep done');
    } catch (err) {
      ended();
      if (this.abort.signal.aborted) {
        // Shutdown, not a fault: the devices not yet queued are swept by the next cycle's sweep.
        logger.info({ cycle }, 'sweep stopped: shutting down');
        return;
      }
      metrics.sweepsTotal.inc({ result: 'failed' });
      // Pages that failed alone: the rest was read and probed, and its figures are worth keeping.
      const summary = err instanceof SweepIncompleteError ? err.summary : undefined;
      if (summary) this.recordFigures(summary);
      logger.error({ ...summary, cycle, kind: err instanceof ProberError ? err.kind : undefined, err }, 'sweep failed; no device changed because of it');
    } finally {
      clearInterval(keepAlive);
      await this.deps.lock.release().catch(() => {});
    }
  }

  private recordFigures(summary: SweepSummary): void {
    for (const result of ['enqueued', 'alreadyPending', 'invalid'] as const) {
      this.deps.metrics.sweepDevices.set({ result: result === 'alreadyPending' ? 'already_pending' : result }, summary[result]);
    }
    this.deps.metrics.invalidDevices.set(summary.invalid);
  }

  private currentCycle(): { cycle: number; intervalMs: number } {
    const now = this.deps.now();
    if (this.cadence.cron && this.cron) {
      const next = this.cron.nextRun()?.getTime() ?? now + 60_000;
      const previous = this.cron.currentRun()?.getTime() ?? this.cron.previousRun()?.getTime() ?? now;
      return { cycle: Math.floor(previous / 1000) * 1000, intervalMs: Math.max(1000, next - previous) };
    }
    const intervalMs = this.cadence.intervalSeconds * 1000;
    return { cycle: Math.floor(now / intervalMs) * intervalMs, intervalMs };
  }

  /** Stops ticking; an in-flight sweep is asked to stop after its current page. */
  async stop(): Promise<void> {
    this.cron?.stop();
    this.abort.abort();
    await this.running;
  }
}
