import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';

const ALERTS = resolve(import.meta.dirname, '../../deploy/prometheus/alerts.yaml');
export const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

interface Rule {
  alert?: string;
  expr: string;
}

/**
 * Evaluates one alert of deploy/prometheus/alerts.yaml, as written there, against a daemon's
 * real /metrics text held steady for a few minutes, with `promtool test rules`: true when the
 * alert fires with exactly `labels` (and nothing else fires). Annotations and severity are left
 * out of the copy so only the expression is under test.
 */
export function alertFires(exposition: string, alert: string, labels: Record<string, string>): { fires: boolean; output: string } {
  const rules = (parse(readFileSync(ALERTS, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
  const rule = rules.find((r) => r.alert === alert);
  if (!rule) throw new Error(`no alert ${alert} in ${ALERTS}`);
  const names = new Set(rule.expr.match(/\binventory_prober_[a-z_]+/g) ?? []);
  const series = exposition.split('\n').flatMap((line) => {
    const name = line.match(/^([a-z_]+)[{ ]/)?.[1];
    if (!name || !names.has(name)) return [];
    const value = line.split(' ').pop() as string;
    const head = line.slice(0, line.length - value.length - 1);
    const withJob = head.includes('{') ? head.replace('{', '{job="inventory-prober",') : `${head}{job="inventory-prober"}`;
    return [{ series: withJob, values: `${value}x10` }];
  });
  const dir = mkdtempSync(join(tmpdir(), 'ip-promtool-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: [{ name: 'under-test', rules: [{ alert, expr: rule.expr }] }] }));
    const test = {
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [{ interval: '1m', input_series: series, alert_rule_test: [{ eval_time: '5m', alertname: alert, exp_alerts: [{ exp_labels: labels }] }] }],
    };
    writeFileSync(join(dir, 'test.yaml'), stringify(test));
    const run = spawnSync('promtool', ['test', 'rules', 'test.yaml'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    return { fires: run.status === 0, output: `${run.stdout}${run.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
