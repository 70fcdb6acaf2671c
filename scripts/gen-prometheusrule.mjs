// Copies deploy/prometheus/alerts.yaml into the Kubernetes PrometheusRule: kustomize cannot
// reference a file outside its root, so the rules live twice and a test keeps them equal.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';

const alerts = parse(readFileSync('deploy/prometheus/alerts.yaml', 'utf8'));
const rule = {
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: { name: 'inventory-prober', labels: { 'app.kubernetes.io/name': 'inventory-prober' } },
  spec: { groups: alerts.groups },
};
const head = `# Alert rules for inventory-prober: spec.groups is a verbatim copy of deploy/prometheus/alerts.yaml
# (kustomize cannot embed a file outside its root). test/deploy/kubernetes.test.ts fails when the
# two differ; regenerate with: npm run gen:prometheusrule
`;
writeFileSync('deploy/kubernetes/prometheusrule.yaml', head + stringify(rule, { lineWidth: 0 }));
