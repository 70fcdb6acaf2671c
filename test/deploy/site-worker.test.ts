import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const hasKubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

/** The site-worker overlay as `kubectl kustomize` renders it. */
function render(): { kind: string; metadata: { name: string } }[] {
  const r = spawnSync('kubectl', ['kustomize', 'deploy/site-worker'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
}

describe.skipIf(!hasKubectl)('Kubernetes site-worker overlay (deploy/site-worker)', () => {
  it('holds the workers only: no scheduler, no alert rules', () => {
    const kinds = render().map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds).toContain('Deployment/inventory-prober-worker');
    expect(kinds).not.toContain('Deployment/inventory-prober-scheduler');
    expect(kinds).not.toContain('PodDisruptionBudget/inventory-prober-scheduler');
    expect(kinds.some((k) => k.startsWith('PrometheusRule/'))).toBe(false);
  });

  it('starts workers of the site\'s group that load without an inventory URL or token and never report', async () => {
    const objects = render();
    const worker = objects.find((o) => o.kind === 'Deployment') as unknown as IDeployment;
    const container = worker.spec?.template.spec?.containers[0];
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
    expect(env.WORKER_GROUPS).toBe('site-a');
    expect(env).not.toHaveProperty('INVENTORY_TOKEN_FILE');
    expect(container?.args).toEqual(expect.arrayContaining(['--role', 'worker']));
    const yaml = (objects.find((o) => o.kind === 'ConfigMap') as unknown as IConfigMap).data?.['config.yaml'] ?? '';
    const loaded = await loadConfig({ file: 'config.yaml', readFile: async () => yaml, env: { WORKER_GROUPS: env.WORKER_GROUPS, REDIS_URL: 'rediss://central-redis.example.net:6380/0' }, role: 'worker' });
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    expect(loaded.config.worker).toMatchObject({ groups: ['site-a'], report: false });
  });

  it('scales the site\'s workers on their own group\'s queue', () => {
    const scaled = render().find((o) => o.kind === 'ScaledObject') as unknown as { spec: { triggers: { metadata: { query: string } }[] } };
    expect(scaled.spec.triggers[0]?.metadata.query).toContain('queue="probe-site-a"');
  });
});
