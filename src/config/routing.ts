import { isMapping, type Reader } from './reader.js';
import type { RoutingRule } from './types.js';

/**
 * A group name becomes part of a BullMQ queue name, Redis keys and a metric label value, so it
 * keeps to a charset all three take unquoted: lower-case letters, digits, `-` and `_`.
 */
export const GROUP_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const GROUP_FORM = 'group names of 1–40 characters: a-z, 0-9, "-" or "_", starting with a letter or digit';
const RULE_KEYS = ['match', 'groups', 'quorum'];
const MATCH_KEYS = ['organization', 'type'];

/** `worker.groups`: the groups this process serves, never none. */
export function readWorkerGroups(r: Reader): string[] | undefined {
  return readGroupList(r, 'worker.groups', r.get('worker.groups'));
}

/**
 * `routing.rules`: an ordered list of `{ match: { organization, type }, groups, quorum? }`. Every
 * rule is checked, so one run reports all of them. Groups no local worker serves are fine: site
 * workers run elsewhere with their own `worker.groups`.
 */
export function readRoutingRules(r: Reader): RoutingRule[] | undefined {
  const raw = r.get('routing.rules');
  if (!Array.isArray(raw)) {
    r.problem('routing.rules', 'must be a list of rules like { match: { organization: [12] }, groups: [site-a] } ([] routes every device to group "default")');
    return undefined;
  }
  const rules = raw.map((rule, i) => readRule(r, `routing.rules[${i}]`, rule));
  return rules.every((rule) => rule !== undefined) ? (rules as RoutingRule[]) : undefined;
}

function readRule(r: Reader, key: string, raw: unknown): RoutingRule | undefined {
  if (!isMapping(raw)) {
    r.problem(key, `must be a mapping with keys ${RULE_KEYS.join(', ')}`);
    return undefined;
  }
  let ok = unknownKeys(r, key, raw, RULE_KEYS);
  const match = readMatch(r, `${key}.match`, raw.match);
  const groups = readGroupList(r, `${key}.groups`, raw.groups);
  let quorum: number | undefined;
  if (raw.quorum !== undefined) {
    const max = groups?.length ?? Infinity;
    if (Number.isInteger(raw.quorum) && (raw.quorum as number) >= 1 && (raw.quorum as number) <= max) quorum = raw.quorum as number;
    else {
      r.problem(`${key}.quorum`, `must be a whole number from 1 to the number of groups${groups ? ` (${groups.length})` : ''} (got ${JSON.stringify(raw.quorum)})`);
      ok = false;
    }
  }
  if (!ok || !match || !groups) return undefined;
  return quorum === undefined ? { match, groups } : { match, groups, quorum };
}

function readMatch(r: Reader, key: string, raw: unknown): RoutingRule['match'] | undefined {
  if (raw === undefined) return { organization: [], type: [] };
  if (!isMapping(raw)) {
    r.problem(key, 'must be a mapping like { organization: [12, 40], type: [3] } (omit it to match every device)');
    return undefined;
  }
  const ok = unknownKeys(r, key, raw, MATCH_KEYS);
  const lists = MATCH_KEYS.map((name) => {
    const v = raw[name] ?? [];
    if (Array.isArray(v) && v.every((id) => Number.isInteger(id) && id >= 1)) return v as number[];
    r.problem(`${key}.${name}`, `must be a list of whole numbers ≥ 1, e.g. [12, 40] (got ${JSON.stringify(v)?.slice(0, 60)})`);
    return undefined;
  });
  const [organization, type] = lists;
  return ok && organization && type ? { organization, type } : undefined;
}

function readGroupList(r: Reader, key: string, raw: unknown): string[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0) {
    r.problem(key, `must be a non-empty list of ${GROUP_FORM}, e.g. [site-a] (got ${JSON.stringify(raw)?.slice(0, 60) ?? 'nothing'})`);
    return undefined;
  }
  const bad = raw.filter((g) => typeof g !== 'string' || !GROUP_NAME.test(g));
  if (bad.length > 0) {
    r.problem(key, `must hold only ${GROUP_FORM} (got ${bad.map((g) => JSON.stringify(g)).join(', ').slice(0, 80)})`);
    return undefined;
  }
  const twice = raw.filter((g, i) => raw.indexOf(g) !== i);
  if (twice.length > 0) {
    r.problem(key, `must name each group once (${[...new Set(twice)].join(', ')} repeated)`);
    return undefined;
  }
  return [...(raw as string[])];
}

function unknownKeys(r: Reader, key: string, raw: Record<string, unknown>, known: string[]): boolean {
  const extra = Object.keys(raw).filter((k) => !known.includes(k));
  for (const name of extra) r.problem(`${key}.${name}`, `is not a known key; expected one of ${known.join(', ')}`);
  return extra.length === 0;
}
