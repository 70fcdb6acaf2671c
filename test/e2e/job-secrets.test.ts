import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../../src/redis/keys.js';
import { metricValue, waitFor } from '../support/daemon.js';
import { loopbackAddresses, startStack, type Stack } from '../support/fleet.js';

/**
 * With the real daemon sweeping, probing and PATCHing, every key under its prefix is read straight
 * from Redis: no probe job's and no report job's data (nor any other key) holds a device's SNMP
 * community, except the two places docs/redis.md lists as holding it. The devices' communities
 * come only from the inventory's detail endpoint (no default is configured), so SNMP answering at
 * all proves the worker found each community by device id.
 */
const TOKEN = 'jobs-token-0f9e';
const COMMUNITY = 'jobcomm-SECRET-87-q7r8';
const PREFIX = 'jobsec';
const ADDRESSES = loopbackAddresses(87, 4);
const SECRET_KEYS = (key: string) => key === redisKeys.deviceCommunities(PREFIX) || key.startsWith(redisKeys.deviceDetail(PREFIX, 0).replace(/0$/, ''));

let stack: Stack;
let client: Redis;

beforeAll(async () => {
  stack = await startStack({
    token: TOKEN,
    community: COMMUNITY,
    addresses: ADDRESSES,
    prefix: PREFIX,
    // Long phase delays keep each probe job waiting in Redis for a while, where this test reads it.
    config: { schedule: { interval_seconds: 2, spread: 0.9 }, reporter: { backoff_ms: 1_000, max_backoff_ms: 2_000 } },
  });
  client = new Redis(stack.redis.url, { maxRetriesPerRequest: null });
}, 60_000);

afterAll(async () => {
  client?.disconnect();
  await stack?.stop();
});

/** Every key under the prefix with everything it holds, as text. */
async function dumpKeyspace(): Promise<Map<string, string>> {
  const dump = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await client.type(key);
      const value =
        type === 'string' ? await client.get(key)
        : type === 'hash' ? await client.hgetall(key)
        : type === 'list' ? await client.lrange(key, 0, -1)
        : type === 'set' ? await client.smembers(key)
        : type === 'zset' ? await client.zrange(key, '0', '-1', 'WITHSCORES')
        : type === 'stream' ? await client.xrange(key, '-', '+')
        : null;
      if (value !== null) dump.set(key, JSON.stringify(value));
    }
  } while (cursor !== '0');
  return dump;
}

const jobHashes = (dump: Map<string, string>, queue: 'probe' | 'report') =>
  [...dump].filter(([key, value]) => new RegExp(`^${PREFIX}:${queue}:[^:]+$`).test(key) && value.includes('"data"'));

describe('secrets stay out of queue jobs', () => {
  it('probes each device with the community only its inventory detail holds', async () => {
    await waitFor('the daemon to run', () => stack.daemon.logs.some((l) => l.msg === 'inventory-prober running'), 20_000);
    await waitFor('SNMP answers from every device', async () => (await metricValue(stack.metricsPort, 'inventory_prober_probes_total', { probe: 'snmp', outcome: 'up' })) >= 2 * ADDRESSES.length, 30_000);
    expect(await metricValue(stack.metricsPort, 'inventory_prober_probes_total', { probe: 'snmp', outcome: 'down' })).toBe(0);
  }, 40_000);

  it('no probe job, no report job and no other key but the listed ones holds a community', async () => {
    // Two devices go down; their PATCHes fail, so report jobs stay in Redis, retrying.
    stack.inventory.setFault({ kind: 'status', code: 500, method: 'PATCH' });
    for (const agent of stack.agents.slice(0, 2)) agent.setResponding(false);
    const seen = { probe: 0, report: 0 };
    const leaks: string[] = [];
    let holders: string[] = [];
    await waitFor(
      'probe and report jobs to be read from Redis',
      async () => {
        const dump = await dumpKeyspace();
        seen.probe += jobHashes(dump, 'probe').length;
        seen.report += jobHashes(dump, 'report').length;
        for (const [key, value] of dump) if (value.includes(COMMUNITY) && !SECRET_KEYS(key)) leaks.push(key);
        holders = [...dump].filter(([, value]) => value.includes(COMMUNITY)).map(([key]) => key);
        return seen.probe >= 3 && seen.report >= 2;
      },
      30_000,
    );
    expect(leaks).toEqual([]);
    // The community is in Redis, only where docs/redis.md says (so this test could see a leak).
    expect(holders).toContain(redisKeys.deviceCommunities(PREFIX));
    expect(holders.every(SECRET_KEYS)).toBe(true);
  }, 40_000);
});
