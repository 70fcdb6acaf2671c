import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml, loopbackAddresses, runDaemon, startFleet, type Fleet } from '../support/fleet.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';

/**
 * Scale-out: one scheduler and two worker processes on one Redis share every cycle's work, and
 * no device is probed twice in a cycle. Each worker runs fping through a wrapper that logs the
 * targets of every run to a file of its own, so the test counts real probes per device and per
 * worker, not the daemon's own figures.
 */
const TOKEN = 'scale-out-token-5d1e';
const COMMUNITY = 'scale-out-community-2b8f';
const PREFIX = 'scale-out';
const ADDRESSES = loopbackAddresses(48, 40);
const SWEEPS = 6;

let redis: ThrowAwayRedis;
let fleet: Fleet;
let fakeBin: string;
const daemons: DaemonProcess[] = [];

/** A PATH whose fping logs its targets (one line per run) to `log`, then runs the real fping. */
function fpingLoggingTo(log: string): string {
  const dir = mkdtempSync(join(fakeBin, 'worker-'));
  writeFileSync(join(dir, 'fping'), `#!/bin/sh\necho "$*" >> '${log}'\nexec /usr/bin/fping "$@"\n`);
  chmodSync(join(dir, 'fping'), 0o755);
  return `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`;
}

/** How many times each fleet address appears as an fping target in `log`. */
function probesPerAddress(log: string): Map<string, number> {
  const counts = new Map<string, number>();
  const text = (() => {
    try {
      return readFileSync(log, 'utf8');
    } catch {
      return '';
    }
  })();
  for (const line of text.split('\n')) {
    const targets = line.split(' -- ')[1]?.split(' ') ?? [];
    for (const t of targets) if (ADDRESSES.includes(t)) counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  return counts;
}

beforeAll(async () => {
  fakeBin = mkdtempSync(join(tmpdir(), 'ip-scale-out-'));
  redis = await startRedis();
  fleet = await startFleet({ token: TOKEN, community: COMMUNITY, addresses: ADDRESSES });
}, 30_000);

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  await fleet?.close();
  await redis?.stop();
  rmSync(fakeBin, { recursive: true, force: true });
});

describe('scale-out: two worker processes on one Redis (built CLI)', () => {
  it('share every cycle between them, and each device is probed exactly once per cycle', async () => {
    // A 2 s cycle whose devices all fall in its first second; jobs of 4 devices and 4 checks at a
    // time per process, so each cycle is ten jobs for the two workers to split.
    const config = writeConfig(
      daemonYaml(
        { inventoryUrl: fleet.inventory.url, prefix: PREFIX, snmpPort: fleet.snmpPort },
        { schedule: { interval_seconds: 2, spread: 0.5 }, worker: { concurrency: 4, batch_size: 4 } },
      ),
    );
    const logs = [join(fakeBin, 'a.log'), join(fakeBin, 'b.log')];
    for (const log of logs) {
      const { daemon } = await runDaemon(config, { token: TOKEN, redisUrl: redis.url, role: 'worker', metricsPort: 0, env: { PATH: fpingLoggingTo(log) } });
      daemons.push(daemon);
    }
    const { daemon: scheduler } = await runDaemon(config, { token: TOKEN, redisUrl: redis.url, role: 'scheduler', metricsPort: 0 });
    daemons.push(scheduler);

    const sweeps = () => scheduler.logs.filter((l) => l.msg === 'sweep done');
    await waitFor(`${SWEEPS} sweeps`, () => sweeps().length >= SWEEPS, 60_000);
    // Between two sweeps: no sweep is cut short, so every one counted below was queued in full.
    await scheduler.stop('SIGTERM');
    const client = new Redis(redis.url);
    try {
      await waitFor('every queued probe to be done', async () => (await client.hlen(`${PREFIX}:probe:pending`)) === 0, 30_000);
    } finally {
      client.disconnect();
    }

    const done = sweeps();
    // Each sweep queued every device: none was still pending from the cycle before.
    for (const sweep of done) expect({ enqueued: sweep.enqueued, alreadyPending: sweep.alreadyPending }).toEqual({ enqueued: 40, alreadyPending: 0 });

    const [a, b] = logs.map(probesPerAddress) as [Map<string, number>, Map<string, number>];
    const sum = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);
    // Work is shared: each worker probed a good part of the fleet.
    expect(sum(a)).toBeGreaterThan(0);
    expect(sum(b)).toBeGreaterThan(0);
    // Exactly once per cycle: every device as many times as there were sweeps, across both workers.
    const perDevice = ADDRESSES.map((address) => (a.get(address) ?? 0) + (b.get(address) ?? 0));
    expect(perDevice).toEqual(ADDRESSES.map(() => done.length));
  }, 120_000);
});
