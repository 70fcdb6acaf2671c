import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, writeConfig } from '../support/daemon.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import type { InventoryServer } from '../support/inventory-server.js';
import type { SnmpAgent } from '../support/snmp-agent.js';

const TOKEN = 'sweep-once-token-6d0f';
const COMMUNITY = 'sweep-once-community-2b7e';
const ADDRESSES = ['127.0.50.1', '127.0.50.2', '127.0.50.3'];
const SILENT = 2;

let fleet: Fleet;
let inventory: InventoryServer;
let agents: SnmpAgent[] = [];
let config: string;

beforeAll(async () => {
  fleet = await startFleet({ token: TOKEN, community: COMMUNITY, addresses: ADDRESSES });
  ({ inventory, agents } = fleet);
  agents[SILENT - 1]?.setResponding(false);
  config = writeConfig(`
inventory: { url: "${inventory.url}" }
probes:
  up_when: all
  icmp: { count: 1, timeout_ms: 500 }
  snmp: { version: "2c", port: ${fleet.snmpPort}, timeout_ms: 300, retries: 0 }
`);
}, 30_000);

afterAll(async () => {
  await fleet?.close();
});

/** Runs the built CLI to completion (asynchronously: the inventory server lives in this process). */
async function sweepOnce(...flags: string[]): Promise<{ code: number | null; table: string[][]; out: string }> {
  const run = startDaemon(['sweep', '--once', ...flags, '--config', config], { INVENTORY_TOKEN: TOKEN });
  const code = await run.exited;
  const out = run.raw();
  // Columns are separated by two or more spaces; cells themselves hold single spaces.
  const table = out.split('\n').filter((l) => l.trim() && !/^[-\s]+$/.test(l)).map((l) => l.trim().split(/\s{2,}/));
  return { code, table, out };
}

const rowOf = (table: string[][], address: string) => table.find((r) => r[1] === address);

describe('inventory-prober sweep --once', () => {
  it('--dry-run prints what each device would get and writes nothing', async () => {
    const { code, table, out } = await sweepOnce('--dry-run');
    expect(code).toBe(0);
    expect(table[0]).toEqual(['device', 'target', 'icmp', 'snmp', 'decided', 'inventory', 'would PATCH']);

    const silent = rowOf(table, ADDRESSES[SILENT - 1] as string);
    expect(silent?.[0]).toContain(`device-${SILENT}`);
    expect(silent?.[2]).toBe('up');
    expect(silent?.[3]).toMatch(/^down/);
    expect(silent?.slice(4)).toEqual(['down', 'up', 'yes → down']);
    for (const address of [ADDRESSES[0], ADDRESSES[2]] as string[]) {
      expect(rowOf(table, address)?.slice(2)).toEqual(['up', 'up', 'up', 'up', 'no']);
    }
    expect(out).toContain('dry run: nothing written');
    expect(inventory.patches).toEqual([]);
    expect(inventory.log.filter((r) => r.method === 'PATCH')).toEqual([]);
  }, 30_000);

  it('without --dry-run PATCHes exactly the device whose check differs from the inventory', async () => {
    const { code, table } = await sweepOnce();
    expect(code).toBe(0);
    expect(table[0]?.[6]).toBe('PATCH');
    expect(rowOf(table, ADDRESSES[SILENT - 1] as string)?.[6]).toBe('patched → down');
    expect(inventory.patches.map((p) => ({ id: p.id, body: p.body }))).toEqual([{ id: SILENT, body: { status: false } }]);
    expect(inventory.devices.find((d) => d.id === SILENT)?.status).toBe(false);
  }, 30_000);
});
