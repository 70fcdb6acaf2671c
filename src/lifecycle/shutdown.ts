import type { Logger } from '../log/logger.js';

export interface ShutdownStep {
  name: string;
  run: () => Promise<unknown>;
}

/**
 * Ordered, bounded, two-stage shutdown: the first SIGTERM/SIGINT runs the steps in order (stop
 * scheduling → close workers, letting in-flight jobs finish → close queues → close Redis) within
 * the grace period; a second signal, or the grace running out, exits at once.
 */
export class Shutdown {
  private readonly steps: ShutdownStep[] = [];
  private started?: Promise<void>;

  constructor(
    private readonly logger: Logger,
    private readonly graceMs: number,
    private readonly exit: (code: number) => void = (code) => process.exit(code),
  ) {}

  add(name: string, run: () => Promise<unknown>): void {
    this.steps.push({ name, run });
  }

  installSignalHandlers(): void {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.on(signal, () => void this.begin(signal));
    }
  }

  begin(reason: string): Promise<void> {
    if (this.started) {
      this.logger.warn({ reason }, 'second signal: exiting now without waiting');
      this.exit(1);
      return this.started;
    }
    this.logger.info({ reason, graceSeconds: this.graceMs / 1000 }, 'shutting down');
    this.started = this.runSteps();
    return this.started;
  }

  private async runSteps(): Promise<void> {
    const timer = setTimeout(() => {
      this.logger.error({ graceSeconds: this.graceMs / 1000 }, 'shutdown grace period exceeded; exiting');
      this.exit(1);
    }, this.graceMs);
    timer.unref();
    for (const step of this.steps) {
      try {
        await step.run();
      } catch (err) {
        this.logger.warn({ step: step.name, err }, 'shutdown step failed');
      }
    }
    clearTimeout(timer);
    this.logger.info('shutdown complete');
    this.exit(0);
  }
}
