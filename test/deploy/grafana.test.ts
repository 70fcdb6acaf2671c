import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInventoryServer, fakeDevice, type InventoryServer } from '../support/inventory-server.js';
import { startSnmpAgent, type SnmpAgent } from '../support/snmp-agent.js';
import { freePort, startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { startDaemon, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml } from '../support/fleet.js';

const DASHBOARD_FILE = resolve(import.meta.dirname, '../../deploy/grafana/inventory-prober.json');
const TOKEN = 'grafana-test-token-1a2b';
const COMMUNITY = 'grafana-test-community-3c4d';
const ADDRESSES = ['127.0.21.1', '127.0.21.2'];

// PromQL words that look like identifiers but never name a metric.
const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'inf', 'nan', 'start', 'end']);
const AGGREGATORS = new Set(['sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group', 'limitk', 'limit_ratio']);
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

/** Metric names in one PromQL expression (or Grafana `label_values(selector, label)` query). */
function metricNames(query: string): string[] {
  const expr = query
    .replace(/^\s*label_values\(([\s\S]*),\s*[A-Za-z_]\w*\s*\)\s*$/, '$1') // its last argument is a label name
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // string literals
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ') // Grafana variables ($job, ${datasource}, $__rate_interval)
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery selectors
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '$1 ') // label lists
    .replace(/\b\d[\w.]*/g, ' '); // numbers and durations (0.99, 1e3, 5m)
  const names = new Set<string>();
  for (const [, word, call] of expr.matchAll(/([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    if (call || KEYWORDS.has(word as string) || AGGREGATORS.has(word as string)) continue;
    names.add(word as string);
  }
  return [...names];
}

/** Every query the dashboard runs: panel targets (rows included, at any depth) and templating queries. */
function dashboardQueries(dashboard: unknown): string[] {
  const found: string[] = [];
  const walk = (node: unknown, key?: string): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n));
    if (node === null || typeof node !== 'object') {
      if (key === 'expr' && typeof node === 'string' && node.trim()) found.push(node);
      return;
    }
    for (const [k, v] of Object.entries(node)) walk(v, k);
  };
  const d = dashboard as { panels?: unknown[]; templating?: { list?: { type?: string; query?: string | { query?: string } }[] } };
  walk(d.panels);
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (q) found.push(q);
  }
  return found;
}

/** Family name → type, from the `# TYPE` lines of an exposition. */
function families(exposition: string): Map<string, string> {
  return new Map([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => [name as string, type as string]));
}

function exported(name: string, declared: Map<string, string>): boolean {
  if (declared.has(name)) return true;
  const suffix = HISTOGRAM_SUFFIXES.find((s) => name.endsWith(s));
  const type = suffix ? declared.get(name.slice(0, -suffix.length)) : undefined;
  return type === 'histogram' || type === 'summary';
}

describe('the metric-name extractor', () => {
  it('keeps metric names and drops functions, aggregators, keywords, label names, variables and numbers', () => {
    const expr = `histogram_quantile(0.99, sum by (le, probe) (rate(a_seconds_bucket{job=~"$job", probe!="x"}[$__rate_interval])))
      / on (job) group_left (reason) b_total offset 5m and ignoring(le) (c == 0) * 1e3 + max without (x) (time() - d)`;
    expect(metricNames(expr).sort()).toEqual(['a_seconds_bucket', 'b_total', 'c', 'd']);
  });

  it('reads only the selector of a Grafana label_values() query', () => {
    expect(metricNames('label_values(some_metric{job=~"$job"}, organization)')).toEqual(['some_metric']);
  });
});

describe('Grafana dashboard deploy/grafana/inventory-prober.json', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as {
    schemaVersion: number;
    panels: { id: number; type: string; targets?: { datasource?: { uid?: string } }[] }[];
    templating: { list: { type: string; name: string }[] };
  };
  const queries = dashboardQueries(dashboard);

  it('is importable: a modern schema, unique panel ids, every query on the chosen Prometheus data source', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.find((v) => v.type === 'datasource')?.name).toBe('datasource');
    const sources = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.datasource?.uid));
    expect(sources.length).toBeGreaterThan(0);
    expect(new Set(sources)).toEqual(new Set(['${datasource}']));
  });

  describe('against a real /metrics scrape of the running daemon (per_device: full, one device down)', () => {
    let redis: ThrowAwayRedis;
    let inventory: InventoryServer;
    let agents: SnmpAgent[] = [];
    let daemon: DaemonProcess;
    let scrape = '';

    beforeAll(async () => {
      redis = await startRedis();
      const first = await startSnmpAgent({ address: ADDRESSES[0] as string, port: 0, community: COMMUNITY });
      agents = [first, await startSnmpAgent({ address: ADDRESSES[1] as string, port: first.port, community: COMMUNITY })];
      inventory = await startInventoryServer({
        token: TOKEN,
        devices: ADDRESSES.map((address, i) => fakeDevice(i + 1, { hostname: address, management_ip: address, snmp_community: COMMUNITY })),
      });
      const port = await freePort();
      daemon = startDaemon(['run', '--config', writeConfig(configYaml(inventory.url, first.port))], { INVENTORY_TOKEN: TOKEN, REDIS_URL: redis.url, METRICS_PORT: String(port), LOG_LEVEL: 'warn' });
      agents[1]?.setResponding(false);
      await waitFor('PATCH status:false for device 2', () => inventory.patches.some((p) => p.id === 2), 30_000);
      scrape = await waitFor('a scrape with the down reason of device 2', async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return /^inventory_prober_device_down_reason\{device_id="2",/m.test(text) && text;
      });
    }, 60_000);

    afterAll(async () => {
      await daemon?.stop('SIGKILL');
      await Promise.all(agents.map((a) => a.close()));
      await inventory?.close();
      await redis?.stop();
    });

    it('every metric name in every panel and variable query is exported by the daemon', () => {
      const declared = families(scrape);
      const used = [...new Set(queries.flatMap(metricNames))].sort();
      expect(used.length).toBeGreaterThan(10);
      expect(used.filter((name) => !exported(name, declared))).toEqual([]);
    });
  });
});

function configYaml(inventoryUrl: string, snmpPort: number): string {
  return daemonYaml({ inventoryUrl, prefix: 'grafana', snmpPort }, { metrics: { per_device: 'full' } });
}
