import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as kedaModels from '@kubernetes-models/keda';
import * as prometheusModels from '@kubernetes-models/prometheus-operator';
import * as coreModels from 'kubernetes-models';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IService } from 'kubernetes-models/v1/Service';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { renderDeviceSeries } from '../../src/metrics/device-exposition.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { startHttpServer } from '../../src/http/server.js';
import { PROBE_QUEUE } from '../../src/queue/jobs.js';

// Offline checks of the kustomize base: every object against its Kubernetes / CRD JSON schema
// (kubernetes-models ships them, precompiled), and the wiring between objects and the code.

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
type Model = new (data: unknown) => { validate(): void };
type Labels = Record<string, string> | undefined;

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = join(root, 'deploy/kubernetes');
const read = (file: string) => readFileSync(join(dir, file), 'utf8');
const yamlFiles = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();

function parseObjects(text: string, version: '1.1' | '1.2' = '1.2'): K8sObject[] {
  return parseAllDocuments(text, { version }).flatMap((doc) => {
    expect(doc.errors).toEqual([]);
    return doc.contents === null ? [] : [doc.toJS() as K8sObject];
  });
}

/** apiVersion/kind → model class, found by walking the packages' group/version namespaces. */
function modelIndex(packages: unknown[]): Map<string, Model> {
  const index = new Map<string, Model>();
  const seen = new Set<unknown>();
  const walk = (node: unknown, depth: number): void => {
    if (node === null || seen.has(node) || depth > 5) return;
    seen.add(node);
    const model = node as { apiVersion?: unknown; kind?: unknown };
    if (typeof node === 'function' && typeof model.apiVersion === 'string' && typeof model.kind === 'string') {
      index.set(`${model.apiVersion}/${model.kind}`, node as Model);
    } else if (typeof node === 'object') for (const child of Object.values(node)) walk(child, depth + 1);
  };
  packages.forEach((p) => walk(p, 0));
  return index;
}
const models = modelIndex([coreModels, prometheusModels, kedaModels]);

function schemaProblems(objects: { file: string; object: K8sObject }[]): string[] {
  return objects.flatMap(({ file, object }) => {
    const Model = models.get(`${object.apiVersion}/${object.kind}`);
    if (!Model) return [`${file}: no schema for ${object.apiVersion} ${object.kind}`];
    if (!object.metadata?.name) return [`${file}: ${object.kind} has no metadata.name`];
    try {
      new Model(object).validate();
      return [];
    } catch (err) {
      return [`${file}: ${object.kind}/${object.metadata.name}: ${(err as Error).message}`];
    }
  });
}

const kustomization = parseObjects(read('kustomization.yaml'))[0] as unknown as {
  namespace: string;
  resources: string[];
  images: { name: string; newName: string; newTag: string }[];
};
const manifests = yamlFiles.filter((f) => f !== 'kustomization.yaml').flatMap((file) => parseObjects(read(file)).map((object) => ({ file, object })));
const applied = manifests.filter(({ file }) => kustomization.resources.includes(file)).map(({ object }) => object);
const find = <T>(kind: string, name?: string): T[] =>
  manifests.map((m) => m.object).filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name)) as T[];
const deployments = find<IDeployment>('Deployment');
const secret = find<K8sObject>('Secret')[0] as K8sObject;
const matches = (selector: Labels, labels: Labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
const podLabels = (d: IDeployment) => d.spec?.template.metadata?.labels;
const container = (d: IDeployment) => d.spec?.template.spec?.containers[0];
// Variables the prober reads; secrets only in their _FILE form (REDIS_URL has none), so no secret value sits in a pod spec.
const ENV_NAMES = ['INVENTORY_URL', 'INVENTORY_TOKEN_FILE', 'REDIS_URL', 'METRICS_PORT', 'LOG_LEVEL', 'SNMP_COMMUNITY_FILE', 'SNMP_V3_AUTH_KEY_FILE', 'SNMP_V3_PRIV_KEY_FILE'];

/** The files and env one Deployment's container sees, from the ConfigMap and the example Secret. */
function containerView(d: IDeployment): { files: Map<string, string>; env: Record<string, string> } {
  const files = new Map<string, string>();
  for (const mount of container(d)?.volumeMounts ?? []) {
    const volume = d.spec?.template.spec?.volumes?.find((v) => v.name === mount.name);
    const source = volume?.configMap ? find<K8sObject>('ConfigMap', volume.configMap.name)[0]?.data : secret.stringData;
    if (volume?.secret) expect(volume.secret.secretName).toBe(secret.metadata.name);
    for (const [key, value] of Object.entries(source ?? {})) files.set(join(mount.mountPath, key), value);
  }
  const env: Record<string, string> = {};
  for (const e of container(d)?.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) expect(ref.name).toBe(secret.metadata.name);
    env[e.name] = ref ? (secret.stringData?.[ref.key] ?? '') : (e.value ?? '');
  }
  return { files, env };
}

describe('Kubernetes manifests', () => {
  it('are valid objects of their kinds (Kubernetes, prometheus-operator and KEDA schemas)', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(10);
    expect(schemaProblems(manifests)).toEqual([]);
  });

  it('mean the same to a YAML 1.1 parser (kubectl) as to YAML 1.2 (no octal or yes/no traps)', () => {
    for (const file of yamlFiles) expect(parseObjects(read(file), '1.1'), file).toEqual(parseObjects(read(file)));
  });

  it('are all listed in the kustomization, except the example Secret, which never is', () => {
    for (const resource of kustomization.resources) expect(existsSync(join(dir, resource)), resource).toBe(true);
    const manifestFiles = yamlFiles.filter((f) => f !== 'kustomization.yaml');
    expect(manifestFiles.filter((f) => !f.endsWith('.example.yaml')).sort()).toEqual([...kustomization.resources].sort());
    expect(secret.stringData?.['inventory-token']).toMatch(/REPLACE/);
  });

  it.skipIf(spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status !== 0)(
    'render with `kubectl kustomize` into valid objects in the prober namespace, with the release image',
    () => {
      const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      const rendered = parseObjects(r.stdout);
      expect(rendered.length).toBe(applied.length);
      expect(schemaProblems(rendered.map((object) => ({ file: 'rendered', object })))).toEqual([]);
      for (const o of rendered.filter((x) => x.kind !== 'Namespace')) expect(o.metadata.namespace, o.kind).toBe(kustomization.namespace);
      const image = kustomization.images[0];
      const images = rendered.filter((o) => o.kind === 'Deployment').map((o) => container(o as unknown as IDeployment)?.image);
      expect(images).toEqual(images.map(() => `${image?.newName}:${image?.newTag}`));
    },
  );

  it('run each role with the mounted config, which the prober accepts with the pod env and files', async () => {
    expect(deployments.map((d) => container(d)?.args?.at(-1)).sort()).toEqual(['scheduler', 'worker']);
    for (const d of deployments) {
      const [command, flag, configPath, roleFlag, role] = container(d)?.args ?? [];
      expect([command, flag, roleFlag]).toEqual(['run', '--config', '--role']);
      expect(role).toBe(podLabels(d)?.['app.kubernetes.io/component']);
      const { files, env } = containerView(d);
      for (const name of Object.keys(env)) expect(ENV_NAMES, name).toContain(name);
      const readFile = async (path: string) => {
        const content = files.get(path);
        if (content === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
        return content;
      };
      const loaded = await loadConfig({ file: configPath ?? '', env, readFile });
      expect(loaded.ok ? [] : loaded.problems, `${d.metadata?.name}: ${configPath}`).toEqual([]);
      if (!loaded.ok) continue;
      const port = container(d)?.ports?.find((p) => p.name === 'metrics');
      expect(port?.containerPort).toBe(loaded.config.metrics.port);
      // The kubelet's SIGKILL must come after the daemon's own bounded shutdown.
      expect(d.spec?.template.spec?.terminationGracePeriodSeconds).toBeGreaterThan(loaded.config.shutdown.grace_seconds);
      if (role !== 'worker') continue;
      // A restricted pod runs the default native ICMP engine at the default concurrency; KEDA's
      // target stays below what one worker takes at once (4 × concurrency / batch_size jobs).
      expect([loaded.config.probes.icmp.engine, loaded.config.worker.concurrency]).toEqual(['native', 1000]);
      const [scaled] = find<{ spec: { triggers: { metadata: { threshold: string } }[] } }>('ScaledObject');
      const jobsAtOnce = (4 * loaded.config.worker.concurrency) / loaded.config.worker.batch_size;
      expect(Number(scaled?.spec.triggers[0]?.metadata.threshold)).toBe(Math.floor(jobsAtOnce * 0.8));
    }
  });

  it('probe liveness and readiness on paths the daemon serves, on its metrics port', async () => {
    const http = await startHttpServer({ registry: new Registry(), readiness: async () => ({ ready: true, checks: {} }) }, '127.0.0.1', 0);
    try {
      for (const d of deployments) {
        const c = container(d);
        for (const [probe, path] of [[c?.livenessProbe, '/healthz'], [c?.readinessProbe, '/readyz']] as const) {
          expect(probe?.httpGet?.path).toBe(path);
          expect(probe?.httpGet?.port).toBe('metrics');
          expect((await fetch(`http://127.0.0.1:${http.port}${path}`)).status).toBe(200);
        }
      }
    } finally {
      await http.close();
    }
  });

  it('lock every pod down as the image user, and let workers ping through the sysctl alone', () => {
    const imageUid = Number(/^USER\s+(\d+)/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))?.[1]);
    for (const d of deployments) {
      const pod = d.spec?.template.spec;
      const c = container(d)?.securityContext;
      expect(pod?.securityContext?.runAsNonRoot && c?.runAsNonRoot).toBe(true);
      expect(pod?.securityContext?.runAsUser).toBe(imageUid);
      expect(pod?.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
      expect(pod?.automountServiceAccountToken).toBe(false);
      expect([c?.readOnlyRootFilesystem, c?.allowPrivilegeEscalation, c?.capabilities?.drop]).toEqual([true, false, ['ALL']]);
      expect(c?.capabilities?.add ?? []).toEqual([]);
      expect(container(d)?.resources?.requests && container(d)?.resources?.limits?.memory).toBeTruthy();
    }
    const worker = find<IDeployment>('Deployment', 'inventory-prober-worker')[0]?.spec?.template.spec;
    const range = worker?.securityContext?.sysctls?.find((s) => s.name === 'net.ipv4.ping_group_range')?.value.split(/\s+/).map(Number) ?? [];
    const gid = worker?.securityContext?.runAsGroup ?? NaN;
    expect(gid >= (range[0] ?? Infinity) && gid <= (range[1] ?? -Infinity)).toBe(true);
  });

  it('connect Service, ServiceMonitor, PDBs and ScaledObject to the right pods', () => {
    const [service] = find<IService>('Service');
    expect(deployments.every((d) => matches(service?.spec?.selector, podLabels(d)))).toBe(true);
    expect(service?.spec?.ports?.map((p) => p.targetPort)).toContain('metrics');
    const [monitor] = find<{ spec: { selector: { matchLabels: Labels }; endpoints: { port: string }[] } }>('ServiceMonitor');
    expect(matches(monitor?.spec.selector.matchLabels, service?.metadata?.labels)).toBe(true);
    expect(service?.spec?.ports?.map((p) => p.name)).toContain(monitor?.spec.endpoints[0]?.port);
    for (const pdb of find<{ spec: { selector: { matchLabels: Labels } } }>('PodDisruptionBudget')) {
      expect(deployments.filter((d) => matches(pdb.spec.selector.matchLabels, podLabels(d)))).toHaveLength(1);
    }
    const [scaled] = find<{ spec: { scaleTargetRef: { name: string }; minReplicaCount: number } }>('ScaledObject');
    const target = find<IDeployment>('Deployment', scaled?.spec.scaleTargetRef.name)[0];
    expect(podLabels(target as IDeployment)?.['app.kubernetes.io/component']).toBe('worker');
    // KEDA owns the worker count; a replicas: in the file would reset it on every apply.
    expect(target?.spec?.replicas).toBeUndefined();
    expect(find<IDeployment>('Deployment', 'inventory-prober-scheduler')[0]?.spec?.replicas).toBeGreaterThanOrEqual(2);
  });

  it('ship the same alert rules as deploy/prometheus/alerts.yaml', () => {
    const alerts = parse(readFileSync(join(root, 'deploy/prometheus/alerts.yaml'), 'utf8')) as { groups: unknown };
    const [rule] = find<{ spec: { groups: unknown } }>('PrometheusRule');
    expect(rule?.spec.groups).toEqual(alerts.groups);
  });

  it('alert and autoscale on metrics the prober exports, for the queue it fills', async () => {
    const queries = [
      ...find<{ spec: { groups: { rules: { expr: string }[] }[] } }>('PrometheusRule').flatMap((r) => r.spec.groups.flatMap((g) => g.rules.map((x) => x.expr))),
      ...find<{ spec: { triggers: { type: string; metadata: Record<string, string> }[] } }>('ScaledObject').flatMap((s) => s.spec.triggers.map((t) => t.metadata.query ?? '')),
    ];
    const registry = new Metrics(new Registry()).registry;
    // Per-device families are rendered from Redis, not registered: take their names from the renderer.
    const rendered = await renderDeviceSeries((async function* () {})(), 'full');
    const histogram = (name: string) => {
      const base = name.replace(/_(bucket|count|sum)$/, '');
      return base !== name && registry.getSingleMetric(base)?.constructor.name === 'Histogram';
    };
    const exported = (name: string) => registry.getSingleMetric(name) !== undefined || histogram(name) || rendered.parts.join('').includes(`# TYPE ${name} `);
    const names = queries.flatMap((q) => q.match(/\binventory_prober_[a-z_]+/g) ?? []);
    expect(names).toContain('inventory_prober_last_sweep_success_timestamp_seconds');
    for (const name of names) expect(exported(name), name).toBe(true);
    expect(queries.join('\n')).toContain(`queue="${PROBE_QUEUE}"`);
  });
});
