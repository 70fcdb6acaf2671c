import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEADER_TTL_MS } from '../../src/metrics/leader.js';
import { redisKeys } from '../../src/redis/keys.js';
import { RUNNING_TTL_MS } from '../../src/scheduler/cycle-lock.js';
import { metricValue, waitFor, writeConfig, type DaemonProcess, type LogLine } from '../support/daemon.js';
import { daemonYaml, loopbackAddresses, runDaemon, startFleet, type Fleet } from '../support/fleet.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';

const TOKEN = 'fault-handover-token-0c6b';
const COMMUNITY = 'fault-handover-community-77';
const PREFIX = 'fault-handover';
/** Generous on a shared machine, and still well below the 30 s (lock) and 40 s (leader) of before. */
const SLACK_MS = 8_000;

const loggedAtMs = (l: LogLine) => Date.parse(String(l.time));
/** Owners are `host:pid:random`: the pid says which daemon holds a key. */
const ownerPid = (owner: string | null) => Number(owner?.split(':')[1]);

describe('a SIGKILLed sweeper and metrics leader', () => {
  let redis: ThrowAwayRedis;
  let client: Redis;
  let fleet: Fleet;
  let first: { daemon: DaemonProcess; metricsPort: number };
  let second: { daemon: DaemonProcess; metricsPort: number };

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
    fleet = await startFleet({ token: TOKEN, community: COMMUNITY, addresses: loopbackAddresses(143, 2) });
    const site = { inventoryUrl: fleet.inventory.url, prefix: PREFIX, snmpPort: fleet.snmpPort };
    const config = writeConfig(daemonYaml(site, { status: { mass_outage: { enabled: false } } }));
    // The first daemon alone becomes the metrics leader; the second joins as a follower.
    first = await runDaemon(config, { token: TOKEN, redisUrl: redis.url });
    await waitFor('the first daemon to lead', async () => (await metricValue(first.metricsPort, 'inventory_prober_metrics_leader').catch(() => 0)) === 1, 30_000);
    second = await runDaemon(config, { token: TOKEN, redisUrl: redis.url });
    await waitFor('the second daemon running', () => second.daemon.logs.some((l) => l.msg === 'inventory-prober running'), 30_000);
  }, 90_000);

  afterAll(async () => {
    await first?.daemon.stop('SIGKILL');
    await second?.daemon.stop('SIGKILL');
    client?.disconnect();
    await fleet?.close();
    await redis?.stop();
  });

  it('hand the sweep and the per-device series to the survivor within about their TTLs', async () => {
    const firstPid = first.daemon.child.pid as number;
    expect(ownerPid(await client.get(redisKeys.metricsLeader(PREFIX)))).toBe(firstPid);
    // Slow pages make a sweep last seconds, so the first daemon can be killed in the middle of one.
    fleet.inventory.setFault({ kind: 'delay', ms: 3_000, method: 'GET', path: '/inventory_device/?' });
    await waitFor('a sweep of the first daemon in progress', async () => ownerPid(await client.get(redisKeys.sweepRunning(PREFIX))) === firstPid, 30_000);
    fleet.inventory.setFault(null);

    const killedAtMs = Date.now();
    await first.daemon.stop('SIGKILL');
    const secondPid = second.daemon.child.pid as number;
    await waitFor('the second daemon to take the lead', async () => ownerPid(await client.get(redisKeys.metricsLeader(PREFIX))) === secondPid, 30_000);
    const leaderMs = Date.now() - killedAtMs;
    const sweep = await waitFor('a sweep by the second daemon', () => second.daemon.logs.find((l) => l.msg === 'sweep done' && loggedAtMs(l) > killedAtMs), 30_000);
    const sweepMs = loggedAtMs(sweep) - killedAtMs;
    console.log(`handover after SIGKILL: metrics leader ${leaderMs} ms (TTL ${LEADER_TTL_MS} ms), next sweep ${sweepMs} ms (in-progress mark TTL ${RUNNING_TTL_MS} ms)`);

    expect(await metricValue(second.metricsPort, 'inventory_prober_metrics_leader')).toBe(1);
    expect(leaderMs).toBeLessThan((LEADER_TTL_MS * 4) / 3 + SLACK_MS);
    expect(sweepMs).toBeLessThan(RUNNING_TTL_MS + SLACK_MS);
  }, 120_000);
});
