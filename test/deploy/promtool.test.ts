import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { startHttpServer } from '../../src/http/server.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderDeviceSeries } from '../../src/metrics/device-exposition.js';
import type { DeviceSeries } from '../../src/metrics/device-series.js';
import { Metrics } from '../../src/metrics/metrics.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = join(root, 'deploy/prometheus');
/** The documented base of every runbook_url (alerts.yaml's header says how to change it). */
const RUNBOOK_BASE = 'http://inventory-prober-metrics.inventory-prober.svc:9464/runbooks';

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (parse(readFileSync(join(dir, 'alerts.yaml'), 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

/** promtool comes with the Debian package `prometheus` (CI installs it; see .ci/run). */
function promtool(...args: string[]) {
  const run = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw new Error(`promtool could not run (${run.error.message}): apt-get install prometheus`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** Every metric name the daemon can export: the registry's own, plus the per-device families. */
async function exportedNames(): Promise<Set<string>> {
  const metrics = new Metrics(new Registry());
  const families = await metrics.registry.getMetricsAsJSON();
  const names = new Set(families.map((m) => m.name));
  // A histogram is queried through its series: name_bucket, name_count, name_sum.
  for (const m of families) if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_count', '_sum']) names.add(m.name + suffix);
  const down: DeviceSeries = { id: 1, n: 'd', o: 'o', t: 't', s: 0, c: 0, r: 'both', i: 0, p: 1, rtt: 0.001, up: 5 };
  async function* batches() {
    yield [down];
  }
  const text = (await renderDeviceSeries(batches(), 'full')).parts.join('');
  for (const m of text.matchAll(/^# TYPE (\S+) /gm)) names.add(m[1] as string);
  return names;
}

describe('Prometheus alert rules (deploy/prometheus)', () => {
  it('pass `promtool check rules`', () => {
    const run = promtool('check', 'rules', 'alerts.yaml');
    expect(run.output).toContain('SUCCESS');
    expect(run.status, run.output).toBe(0);
  });

  it('pass their `promtool test rules` unit tests (fire and stay quiet when they should)', () => {
    const run = promtool('test', 'rules', 'alerts.test.yaml');
    expect(run.status, run.output).toBe(0);
  });

  it('come with an example Prometheus config that `promtool check config` accepts', () => {
    const run = promtool('check', 'config', 'prometheus.example.yml');
    expect(run.status, run.output).toBe(0);
    expect(run.output).toContain('alerts.yaml');
  });

  it('give every alert a severity, a summary, a description and a runbook link', () => {
    for (const rule of rules) {
      expect(rule.alert, rule.expr).toMatch(/^Inventory[A-Za-z]+$/);
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels?.severity);
      expect(Object.keys(rule.annotations ?? {}).sort(), rule.alert).toEqual(['description', 'runbook_url', 'summary']);
      expect(rule.annotations?.runbook_url, rule.alert).toBe(`${RUNBOOK_BASE}#${rule.alert?.toLowerCase()}`);
    }
  });

  it('link each alert to its own runbook on the page every prober serves at /runbooks', async () => {
    const http = await startHttpServer({ registry: new Registry(), readiness: async () => ({ ready: true, checks: {} }) }, '127.0.0.1', 0);
    try {
      const res = await fetch(`http://127.0.0.1:${http.port}${new URL(RUNBOOK_BASE).pathname}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      const anchors = new Set([...(await res.text()).matchAll(/ id="([^"]+)"/g)].map((m) => m[1]));
      for (const rule of rules) expect(anchors, `runbook for ${rule.alert}`).toContain(new URL(rule.annotations?.runbook_url as string).hash.slice(1));
    } finally {
      await http.close();
    }
  });

  it('include every alert an operator is promised', () => {
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'InventoryDeviceDown',
        'InventoryDeviceFlapping',
        'InventoryProberSweepStale',
        'InventoryProberSweepOverrun',
        'InventoryProberAbsent',
        'InventoryProberProbeBacklog',
        'InventoryProberInventoryErrors',
        'InventoryProberPatchFailing',
        'InventoryProberPatchBacklog',
        'InventoryProberIcmpNotPermitted',
        'InventoryProberMassOutageGuard',
        'InventoryProberGroupNotProbed',
      ]),
    );
  });

  // A renamed metric would leave an alert that can never fire and that promtool cannot notice.
  it('only use metric names the daemon actually exports', async () => {
    const exported = await exportedNames();
    const used = new Set(rules.flatMap((r) => [r.expr, ...Object.values(r.annotations ?? {})].flatMap((text) => text.match(/\binventory_prober_[a-z_]+/g) ?? [])));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
  });
});
