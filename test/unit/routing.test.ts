import { describe, expect, it } from 'vitest';
import { loadConfig, type ConfigResult } from '../../src/config/index.js';
import type { Device } from '../../src/inventory/device.js';
import { probeQueueName } from '../../src/queue/jobs.js';
import { routeDevice, routedGroups } from '../../src/scheduler/routing.js';

const ENV = { INVENTORY_URL: 'http://127.0.0.1:8080/api/v1' };
const load = (yaml: string, env: NodeJS.ProcessEnv = ENV): Promise<ConfigResult> => loadConfig({ file: '/c.yaml', env, readFile: async () => yaml });
const device = (organization: number | null, type: number | null): Pick<Device, 'organization' | 'type'> => ({
  organization: organization === null ? null : { id: organization, name: `org${organization}` },
  type: type === null ? null : { id: type, name: `type${type}` },
});

describe('routing.rules and worker.groups: validation lists every problem with its key', () => {
  it('accepts rules, quorum and group names, and takes worker.groups from WORKER_GROUPS', async () => {
    const yaml = `
routing:
  rules:
    - { match: { organization: [1] }, groups: [site-a] }
    - { match: { organization: [3], type: [7] }, groups: [site-a, site-b], quorum: 1 }
    - { groups: [dc_east] }
`;
    const result = await load(yaml, { ...ENV, WORKER_GROUPS: 'site-a, site-b' });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.config.routing.rules).toEqual([
      { match: { organization: [1], type: [] }, groups: ['site-a'] },
      { match: { organization: [3], type: [7] }, groups: ['site-a', 'site-b'], quorum: 1 },
      { match: { organization: [], type: [] }, groups: ['dc_east'] },
    ]);
    expect(result.config.worker.groups).toEqual(['site-a', 'site-b']);
  });

  it('defaults to no rule and a worker serving group "default" (the historical probe queue)', async () => {
    const result = await load('');
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.config.routing.rules).toEqual([]);
    expect(result.config.worker.groups).toEqual(['default']);
    expect(probeQueueName('default')).toBe('probe');
    expect(probeQueueName('site-a')).toBe('probe-site-a');
  });

  it('reports empty groups, unsafe names, repeats, a quorum out of range, bad ids and unknown keys at once', async () => {
    const yaml = `
routing:
  rules:
    - { match: { organization: [1] }, groups: [] }
    - { match: { organization: [2] }, groups: ["Site A", "x:y"] }
    - { match: { type: [-1] }, groups: [a, a] }
    - { groups: [a, b], quorum: 3 }
    - { match: { org: [1] }, groups: [a], priority: 1 }
    - just-a-string
worker:
  groups: []
`;
    const result = await load(yaml);
    if (result.ok) throw new Error('expected problems');
    const at = (key: string) => result.problems.find((p) => p.key === key)?.message;
    expect(at('routing.rules[0].groups')).toMatch(/must be a non-empty list of group names/);
    expect(at('routing.rules[1].groups')).toMatch(/must hold only group names .*"Site A", "x:y"/);
    expect(at('routing.rules[2].match.type')).toMatch(/list of whole numbers ≥ 1/);
    expect(at('routing.rules[2].groups')).toMatch(/each group once \(a repeated\)/);
    expect(at('routing.rules[3].quorum')).toMatch(/from 1 to the number of groups \(2\) \(got 3\)/);
    expect(at('routing.rules[4].match.org')).toMatch(/not a known key; expected one of organization, type/);
    expect(at('routing.rules[4].priority')).toMatch(/not a known key; expected one of match, groups, quorum/);
    expect(at('routing.rules[5]')).toMatch(/must be a mapping/);
    expect(at('worker.groups')).toMatch(/non-empty list/);
    expect(result.problems).toHaveLength(9);
  });

  it('a site worker that does not report (--role worker, worker.report: false) needs no inventory.url', async () => {
    const yaml = 'worker: { report: false, groups: [site-a] }\n';
    const site = await loadConfig({ file: '/c.yaml', env: {}, readFile: async () => yaml, role: 'worker' });
    expect(site.ok).toBe(true);
    const central = await loadConfig({ file: '/c.yaml', env: {}, readFile: async () => yaml, role: 'all' });
    expect(central.ok ? [] : central.problems.map((p) => p.key)).toEqual(['inventory.url']);
  });

  it('reports routing.rules that is not a list', async () => {
    const result = await load('routing: { rules: site-a }\n');
    expect(result.ok ? [] : result.problems.map((p) => p.key)).toEqual(['routing.rules']);
  });
});

describe('routeDevice: the first matching rule decides the groups', () => {
  const rules = [
    { match: { organization: [1], type: [] }, groups: ['site-a'] },
    { match: { organization: [1, 2], type: [5] }, groups: ['site-b'] },
    { match: { organization: [3], type: [] }, groups: ['site-a', 'site-b'], quorum: 1 },
    { match: { organization: [4], type: [] }, groups: ['site-a', 'site-b'] },
  ];

  it('an organization match wins before a later rule, type lists narrow, no match means "default"', () => {
    expect(routeDevice(rules, device(1, 5))).toEqual({ groups: ['site-a'] });
    expect(routeDevice(rules, device(2, 5))).toEqual({ groups: ['site-b'] });
    expect(routeDevice(rules, device(2, 6))).toEqual({ groups: ['default'] });
    expect(routeDevice(rules, device(null, null))).toEqual({ groups: ['default'] });
    expect(routeDevice([], device(1, 1))).toEqual({ groups: ['default'] });
  });

  it('several groups vote: quorum as written, or every group when the rule sets none', () => {
    expect(routeDevice(rules, device(3, 1))).toEqual({ groups: ['site-a', 'site-b'], quorum: { groups: ['site-a', 'site-b'], downAt: 1 } });
    expect(routeDevice(rules, device(4, 1))).toEqual({ groups: ['site-a', 'site-b'], quorum: { groups: ['site-a', 'site-b'], downAt: 2 } });
  });

  it('a rule with no match lists routes every device', () => {
    expect(routeDevice([{ match: { organization: [], type: [] }, groups: ['all'] }], device(null, 9))).toEqual({ groups: ['all'] });
  });

  it('routedGroups names every queue the scheduler may fill, default included', () => {
    expect(routedGroups(rules)).toEqual(['default', 'site-a', 'site-b']);
  });
});
