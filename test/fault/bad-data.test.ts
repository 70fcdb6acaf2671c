import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SnmpAgent } from '../support/snmp-agent.js';
import { startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { metricValue, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml, runDaemon, startAgents } from '../support/fleet.js';

/**
 * The inventory is untrusted input. Hostile or broken rows are skipped one by one (warned once,
 * counted), never reach a shell or ping's argv, and never stop the rest of the fleet being probed.
 * A tiny HTTP server stands in for the inventory so the test controls every byte, `count` included.
 */

const TOKEN = 'fault-bad-token-42';
const COMMUNITY = 'fault-bad-community-42';
// A community with quotes, a shell expansion and non-ASCII: odd, but printable, so it is usable.
const ODD_COMMUNITY = `c'"$(id)ö;`;
const GOOD = ['127.0.42.1', '127.0.42.2', '127.0.42.3', '127.0.42.4'];
const PWNED = join(tmpdir(), `pwned-${randomBytes(6).toString('hex')}`);

type Row = Record<string, unknown>;
const row = (id: unknown, hostname: unknown, extra: Row = {}): Row => ({
  id,
  name: `bad-${String(id)}`,
  hostname,
  serial_number: `SN-${String(id)}`,
  type: { id: 1, name: 'Router' },
  organization: { id: 123, name: 'Headquarters Network' },
  status: true,
  last_status_change: '2024-01-15T08:30:00Z',
  created_at: '2024-01-10T14:20:00Z',
  updated_at: '2024-01-15T08:30:00Z',
  // Present (as null) so the prober takes the list row as complete and asks for no detail.
  management_ip: null,
  snmp_community: null,
  ...extra,
});

const goodRows: Row[] = GOOD.map((address, i) => row(i + 1, address, { name: `good-${i + 1}`, snmp_community: i === 3 ? ODD_COMMUNITY : COMMUNITY }));
/** Each bad row with the metric reason it must be counted under. */
const BAD: { row: unknown; reason: string }[] = [
  { row: row(10, '-f'), reason: 'invalid_target' },
  { row: row(11, '--help'), reason: 'invalid_target' },
  { row: row(12, 'a b'), reason: 'invalid_target' },
  { row: row(13, `$(touch ${PWNED})`), reason: 'invalid_target' },
  { row: row(14, ';reboot'), reason: 'invalid_target' },
  { row: row(15, 'a'.repeat(300)), reason: 'invalid_target' },
  { row: row(16, 'роутер.пример'), reason: 'invalid_target' },
  { row: row(17, undefined), reason: 'invalid_target' },
  { row: row('18', '127.0.42.18'), reason: 'invalid_id' },
  { row: row('dev-1007', '127.0.42.23'), reason: 'invalid_id' },
  { row: row('r'.repeat(100), '127.0.42.24'), reason: 'invalid_id' },
  { row: row(-19, '127.0.42.19'), reason: 'invalid_id' },
  { row: row(20, '127.0.42.20', { status: 'yes' }), reason: 'invalid_status' },
  { row: row(21, '127.0.42.21', { organization: 'Headquarters' }), reason: 'invalid_organization' },
  { row: row(22, '127.0.42.22', { snmp_community: 'pub\u0000lic\u0007\u001b[2J' }), reason: 'invalid_community' },
  { row: row(1, '127.0.42.99', { name: 'impostor-of-1' }), reason: 'duplicate_id' },
  { row: 'not a device', reason: 'not_object' },
];
const HOSTILE = ['-f', '--help', 'a b', `$(touch ${PWNED})`, ';reboot', 'a'.repeat(300), 'роутер.пример', '127.0.42.99'];

interface TinyInventory {
  url: string;
  rows: unknown[];
  /** Replaces the true count in list envelopes; undefined = the truth. */
  count?: number;
  patches: { id: number; body: unknown }[];
  close(): Promise<void>;
}

async function startTinyInventory(rows: unknown[]): Promise<TinyInventory> {
  const state: TinyInventory = { url: '', rows, patches: [], close: async () => {} };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return reply(401, { detail: 'no' });
    if (req.method === 'GET' && url.pathname === '/api/v1/inventory_device/') {
      const limit = Number(url.searchParams.get('limit') ?? 20);
      const offset = Number(url.searchParams.get('offset') ?? 0);
      return reply(200, { count: state.count ?? state.rows.length, next: null, previous: null, results: state.rows.slice(offset, offset + limit) });
    }
    const patch = /^\/api\/v1\/inventory_device\/(\d+)\/$/.exec(url.pathname);
    if (req.method === 'PATCH' && patch) {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => {
        state.patches.push({ id: Number(patch[1]), body: JSON.parse(body) as unknown });
        reply(200, {});
      });
      return;
    }
    reply(404, { detail: 'Not found.' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

let redis: ThrowAwayRedis;
let inventory: TinyInventory;
let agents: SnmpAgent[] = [];
let daemon: DaemonProcess;
let metricsPort: number;
let fakeBin: string;
let argvLog: string;

const metric = (name: string, labels: Record<string, string> = {}) => metricValue(metricsPort, `inventory_prober_${name}`, labels).catch(() => 0);
const skipWarnings = () => daemon.logs.filter((l) => l.msg === 'device skipped: invalid inventory record' && l.level === 'warn');

/** Every argv the daemon gave `ping` or `fping` (binary name first), one array per run, as the fakes logged them. */
function pingArgvs(): string[][] {
  if (!existsSync(argvLog)) return [];
  return readFileSync(argvLog, 'utf8')
    .split('\u0001\n')
    .filter((run) => run.length > 0)
    .map((run) => run.split('\u0000').slice(0, -1));
}

/** A `name` in front of the real binary that logs its argv NUL-separated (spaces and newlines survive), then execs it. */
function wrapBinary(name: string): void {
  const script = `#!/bin/sh\nprintf '%s\\000' ${name} >> '${argvLog}'\nfor a in "$@"; do printf '%s\\000' "$a"; done >> '${argvLog}'\nprintf '\\001\\n' >> '${argvLog}'\nexec /usr/bin/${name} "$@"\n`;
  writeFileSync(join(fakeBin, name), script);
  chmodSync(join(fakeBin, name), 0o755);
}

beforeAll(async () => {
  fakeBin = mkdtempSync(join(tmpdir(), 'ip-fakeping-'));
  argvLog = join(fakeBin, 'argv.log');
  // Whichever ICMP engine is configured (ping per probe, or fping batches), its argv is logged.
  wrapBinary('ping');
  wrapBinary('fping');

  redis = await startRedis();
  agents = await startAgents(GOOD, (_, i) => ({ community: i === 3 ? ODD_COMMUNITY : COMMUNITY }));
  // The impostor row sits right after the real device 1, as a listing sorted by id would put it.
  const rows: unknown[] = [goodRows[0], ...BAD.map((b) => b.row), ...goodRows.slice(1)];
  inventory = await startTinyInventory(rows);
  const site = { inventoryUrl: inventory.url, prefix: 'fault-bad', snmpPort: (agents[0] as SnmpAgent).port };
  // The fping engine: its logged argv shows what would reach a binary (the native engine never execs one).
  const config = writeConfig(daemonYaml(site, { inventory: { page_size: 7, retries: 0 }, probes: { icmp: { engine: 'fping' } } }));
  ({ daemon, metricsPort } = await runDaemon(config, {
    token: TOKEN,
    redisUrl: redis.url,
    env: { PATH: `${fakeBin}:${process.env.PATH ?? '/usr/bin:/bin'}`, SNMP_COMMUNITY: COMMUNITY, LOG_LEVEL: 'debug' },
  }));
  await waitFor('four sweeps', async () => (await metric('sweeps_total', { result: 'ok' })) >= 4, 60_000);
  await waitFor('every good device checked three times', async () => (await metric('checks_total', { outcome: 'up' })) >= 3 * GOOD.length, 60_000);
}, 90_000);

afterAll(async () => {
  await daemon?.stop('SIGKILL');
  await Promise.all(agents.map((a) => a.close()));
  await inventory?.close();
  await redis?.stop();
  rmSync(fakeBin, { recursive: true, force: true });
  rmSync(PWNED, { force: true });
});

describe('bad inventory data: skipped, counted, warned once, never reaches a shell or ping', () => {
  it('skips every bad row with one warning each, however many cycles pass', () => {
    const warnings = skipWarnings();
    expect(warnings).toHaveLength(BAD.length);
    for (const w of warnings) expect(String(w.reason)).toMatch(/^[a-z_]+: /);
    const warnedIds = warnings.map((w) => w.deviceId);
    for (const id of [10, 11, 12, 13, 14, 15, 16, 17, 20, 21, 22, 1]) expect(warnedIds).toContain(id);
  });

  it('names each skipped row in its warning, so it can be found from the log alone: id as received, name, page offset', () => {
    const warnings = skipWarnings();
    const rows: unknown[] = [goodRows[0], ...BAD.map((b) => b.row), ...goodRows.slice(1)];
    for (const b of BAD) {
      const position = rows.indexOf(b.row);
      const where = { offset: position - (position % 7), index: position % 7 };
      const r = b.row as Row;
      const clip = (text: string) => (text.length <= 64 ? text : `${text.slice(0, 63)}…`);
      const expected = typeof b.row === 'object' ? { rowId: clip(JSON.stringify(r.id)), rowName: clip(String(r.name)), ...where } : where;
      const line = warnings.find((w) => w.offset === where.offset && w.index === where.index);
      expect(line, `warning for row ${position}`).toMatchObject({ ...expected, reason: expect.stringMatching(new RegExp(`^${b.reason}: `)) });
      if (typeof b.row !== 'object') expect(line).not.toHaveProperty('rowId');
    }
    // A string id shows as received, quoted; a long one is cut to 64 characters.
    expect(warnings.map((w) => w.rowId)).toEqual(expect.arrayContaining(['"dev-1007"', '"18"', `"${'r'.repeat(62)}…`]));
    expect(warnings.find((w) => w.rowId === `"${'r'.repeat(62)}…`)?.rowName).toBe(`bad-${'r'.repeat(59)}…`);
  });

  it('counts each bad row by reason, every sweep, and reports how many the last sweep skipped', async () => {
    const sweeps = await metric('sweeps_total', { result: 'ok' });
    const perReason = new Map<string, number>();
    for (const b of BAD) perReason.set(b.reason, (perReason.get(b.reason) ?? 0) + 1);
    for (const [reason, rows] of perReason) {
      expect(await metric('invalid_devices_total', { reason })).toBeGreaterThanOrEqual(rows * (sweeps - 1));
    }
    expect(await metric('invalid_devices')).toBe(BAD.length);
  });

  it('never echoes a hostile value or a community in a log line', () => {
    const raw = daemon.raw();
    for (const value of ['a'.repeat(300), `touch ${PWNED}`, 'роутер', 'pub\u0000lic', '\u001b[2J', ODD_COMMUNITY, COMMUNITY]) {
      expect(raw).not.toContain(JSON.stringify(value).slice(1, -1));
    }
  });

  it('runs no shell: the $(touch …) hostname never created its file', () => {
    expect(existsSync(PWNED)).toBe(false);
  });

  it('gives ping/fping only the good devices (and the start-up self-check) as targets, after "--"', () => {
    const runs = pingArgvs();
    expect(runs.length).toBeGreaterThan(1);
    const targets = new Set<string>();
    for (const argv of runs) {
      const dashes = argv.indexOf('--');
      expect(dashes).toBeGreaterThan(0);
      for (const target of argv.slice(dashes + 1)) targets.add(target);
      for (const hostile of HOSTILE) expect(argv.join('\n')).not.toContain(hostile);
    }
    expect([...targets].sort()).toEqual(['127.0.0.1', ...GOOD].sort());
  });

  it('probes the rest of the fleet, the odd-but-printable community included, and flips nothing', async () => {
    expect(await metric('checks_total', { outcome: 'up' })).toBeGreaterThanOrEqual(3 * GOOD.length);
    expect(await metric('checks_total', { outcome: 'down' })).toBe(0);
    expect(daemon.logs.filter((l) => l.msg === 'device flipped')).toEqual([]);
    expect(inventory.patches).toEqual([]);
  });

  it('a negative or absurd list count fails the sweep with a clear reason; nothing is flipped', async () => {
    for (const count of [-1, 1e12]) {
      const failedBefore = await metric('sweeps_total', { result: 'failed' });
      inventory.count = count;
      await waitFor(`a failed sweep for count ${count}`, async () => (await metric('sweeps_total', { result: 'failed' })) > failedBefore, 30_000);
      const line = daemon.logs.filter((l) => l.msg === 'sweep failed; no device changed because of it').at(-1);
      expect(line).toMatchObject({ level: 'error', kind: 'malformed_page' });
      expect((line?.err as { message?: string } | undefined)?.message).toMatch(/"count"/);
    }
    inventory.count = undefined;
    const okBefore = await metric('sweeps_total', { result: 'ok' });
    await waitFor('a good sweep', async () => (await metric('sweeps_total', { result: 'ok' })) > okBefore, 30_000);
    expect(daemon.logs.filter((l) => l.msg === 'device flipped')).toEqual([]);
  }, 60_000);

  it('a count larger than the rows that exist ends at the first empty page and still probes everyone', async () => {
    inventory.count = 5_000;
    const okBefore = await metric('sweeps_total', { result: 'ok' });
    const checksBefore = await metric('checks_total', { outcome: 'up' });
    await waitFor('two good sweeps with the lying count', async () => (await metric('sweeps_total', { result: 'ok' })) >= okBefore + 2, 30_000);
    await waitFor('every good device checked again', async () => (await metric('checks_total', { outcome: 'up' })) >= checksBefore + GOOD.length, 30_000);
    inventory.count = undefined;
    expect(daemon.logs.filter((l) => l.msg === 'device flipped')).toEqual([]);
  }, 60_000);
});
