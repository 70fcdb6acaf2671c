import type { RoutingRule } from '../config/types.js';
import type { Device } from '../inventory/device.js';
import { DEFAULT_GROUP, type Quorum } from '../queue/jobs.js';

/** Where one device is checked from: one group, or several that vote (`quorum`). */
export interface Route {
  groups: string[];
  /** Set when more than one group checks the device: how many must hold it Down. */
  quorum?: Quorum;
}

const DEFAULT_ROUTE: Route = Object.freeze({ groups: Object.freeze([DEFAULT_GROUP]) as string[] });

/**
 * The first rule whose lists all contain the device's organization and type (an empty list
 * matches anything) decides the device's groups; no rule matching means group `default`. A
 * rule with several groups and no `quorum` needs all of them to agree before a device is Down:
 * a site that cannot reach a device then never takes it down on its own.
 */
export function routeDevice(rules: readonly RoutingRule[], device: Pick<Device, 'organization' | 'type'>): Route {
  const rule = rules.find((r) => matches(r.match.organization, device.organization?.id) && matches(r.match.type, device.type?.id));
  if (!rule) return DEFAULT_ROUTE;
  if (rule.groups.length === 1) return { groups: rule.groups };
  return { groups: rule.groups, quorum: { groups: rule.groups, downAt: rule.quorum ?? rule.groups.length } };
}

const matches = (ids: readonly number[], id: number | undefined) => ids.length === 0 || (id !== undefined && ids.includes(id));

/** Every group the rules can route to, `default` included: the queues the scheduler may fill. */
export function routedGroups(rules: readonly RoutingRule[]): string[] {
  return [...new Set([DEFAULT_GROUP, ...rules.flatMap((r) => r.groups)])];
}
