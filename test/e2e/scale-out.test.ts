import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../../src/redis/keys.js';
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

type Probe = { atMs: number; address: string };

let redis: ThrowAwayRedis;
let fleet: Fleet;
let fakeBin: string;
const daemons: DaemonProcess[] = [];

/** A PATH whose fping logs the time (ms) and targets of every run to `log`, then runs the real fping. */
function fpingLoggingTo(log: string): string {
  const dir = mkdtempSync(join(fakeBin, 'worker-'));
  writeFileSync(join(dir, 'fping'), `#!/bin/sh\necho "$(date +%s%3N) $*" >> '${log}'\nexec /usr/bin/fping "$@"\n`);
  chmodSync(join(dir, 'fping'), 0o755);
  return `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`;
}

/** Every probe of a fleet address in `log`: when it started, and the address. */
function probesIn(log: string): { atMs: number; address: string }[] {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((line) => {
    const atMs = Number(line.split(' ')[0]);
    const targets = line.split(' -- ')[1]?.split(' ') ?? [];
    return targets.filter((t) => ADDRESSES.includes(t)).map((address) => ({ atMs, address }));
  });
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
    // A 2 s cycle whose devices all fall in its first second; jobs of 8 devices and 8 checks at a
    // time per process, so each cycle is five jobs for the two workers to split.
    const config = writeConfig(
      daemonYaml(
        { inventoryUrl: fleet.inventory.url, prefix: PREFIX, snmpPort: fleet.snmpPort },
        // fping, whose wrapper logs every target: the witness of who probed what.
        { schedule: { interval_seconds: 2, spread: 0.5 }, worker: { concurrency: 8, batch_size: 8 }, probes: { icmp: { engine: 'fping' } } },
      ),
    );
    const logs = [join(fakeBin, 'a.log'), join(fakeBin, 'b.log')];
    for (const log of logs) {
      const { daemon, metricsPort } = await runDaemon(config, { token: TOKEN, redisUrl: redis.url, role: 'worker', env: { PATH: fpingLoggingTo(log) } });
      daemons.push(daemon);
      await waitFor('the worker to be ready', () => fetch(`http://127.0.0.1:${metricsPort}/readyz`).then((r) => r.ok, () => false), 30_000);
    }
    const { daemon: scheduler } = await runDaemon(config, { token: TOKEN, redisUrl: redis.url, role: 'scheduler', metricsPort: 0 });
    daemons.push(scheduler);

    const sweeps = () => scheduler.logs.filter((l) => l.msg === 'sweep done');
    await waitFor(`${SWEEPS} sweeps`, () => sweeps().length >= SWEEPS, 60_000);
    // Between two sweeps: no sweep is cut short, so every one counted below was queued in full.
    await scheduler.stop('SIGTERM');
    const client = new Redis(redis.url);
    try {
      await waitFor('every queued probe to be done', async () => (await client.hlen(redisKeys.pendingProbes(PREFIX))) === 0, 30_000);
    } finally {
      client.disconnect();
    }

    const done = sweeps();
    // A job's checks share one budget signal: its 16 listeners are expected, not a leak warning.
    for (const d of daemons) expect(d.stderr.join('')).not.toContain('MaxListenersExceededWarning');
    const probes = logs.map(probesIn) as [Probe[], Probe[]];
    // Work is shared: each worker probed part of the fleet.
    expect(probes[0].length).toBeGreaterThan(0);
    expect(probes[1].length).toBeGreaterThan(0);
    // Every device a sweep queued was probed once; a device still pending from the cycle before
    // (a late worker) was not queued again.
    const queued = done.reduce((n, sweep) => n + Number(sweep.enqueued), 0);
    expect(probes[0].length + probes[1].length).toBe(queued);
    expect(queued).toBeGreaterThanOrEqual(ADDRESSES.length * (done.length - 1));
    // No device probed twice within one cycle, across both workers.
    const cycleOf = (atMs: number) => Math.max(...done.map((s) => Number(s.cycle)).filter((c) => c <= atMs));
    const seen = new Set<string>();
    for (const p of [...probes[0], ...probes[1]]) {
      const key = `${p.address}@${cycleOf(p.atMs)}`;
      expect(seen.has(key), `${p.address} probed twice in cycle ${cycleOf(p.atMs)}`).toBe(false);
      seen.add(key);
    }
  }, 120_000);
});
