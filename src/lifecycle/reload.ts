import type { ConfigProblem, ConfigResult } from '../config/schema.js';
import { isSecret } from '../config/secret.js';
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';

export type ReloadOutcome = { ok: true } | { ok: false; problems: ConfigProblem[] };

/** Settings bound to long-lived connections and the listening socket: they need a restart. */
const RESTART_ONLY: { key: string; read: (c: Config) => string }[] = [
  // Compared, never printed.
  ...(['url', 'sentinels', 'sentinel_name', 'sentinel_password', 'password', 'tls_ca_file', 'tls_cert_file', 'tls_key_file', 'prefix'] as const).map((name) => ({
    key: `redis.${name}`,
    read: (c: Config) => {
      const value = c.redis[name];
      return isSecret(value) ? value.reveal() : String(value);
    },
  })),
  { key: 'metrics.port', read: (c) => String(c.metrics.port) },
  { key: 'metrics.host', read: (c) => c.metrics.host },
];

/**
 * SIGHUP and `POST /-/reload`: re-read the config file; a bad new config is rejected with its
 * problems and the running one stays (as Prometheus and blackbox_exporter do).
 */
export class ConfigReloader {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly load: () => Promise<ConfigResult>,
    private readonly current: () => Config,
    private readonly apply: (config: Config) => Promise<void>,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly now: () => number = Date.now,
  ) {}

  installSignalHandler(): void {
    process.on('SIGHUP', () => void this.reload('SIGHUP'));
  }

  /** Reloads run one at a time, in the order asked. */
  reload(trigger: string): Promise<ReloadOutcome> {
    const run = this.queue.then(() => this.reloadNow(trigger));
    this.queue = run.catch(() => {});
    return run;
  }

  private async reloadNow(trigger: string): Promise<ReloadOutcome> {
    const loaded = await this.load();
    const problems = loaded.ok ? restartOnlyChanges(this.current(), loaded.config) : loaded.problems;
    if (!loaded.ok || problems.length > 0) {
      this.metrics.configLastReloadSuccessful.set(0);
      this.logger.error({ trigger, problems }, 'config reload rejected; the running configuration stays');
      return { ok: false, problems };
    }
    await this.apply(loaded.config);
    this.metrics.configLastReloadSuccessful.set(1);
    this.metrics.configLastReloadSuccessTimestampSeconds.set(this.now() / 1000);
    this.logger.info({ trigger }, 'config reloaded');
    return { ok: true };
  }
}

function restartOnlyChanges(before: Config, after: Config): ConfigProblem[] {
  return RESTART_ONLY.filter((s) => s.read(before) !== s.read(after)).map((s) => ({
    key: s.key,
    message: 'cannot change on reload (it is bound to open connections or the listening socket): restart the process',
  }));
}
