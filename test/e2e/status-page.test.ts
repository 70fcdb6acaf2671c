import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startInventoryServer, fakeDevice, type InventoryServer } from '../support/inventory-server.js';
import { startSnmpAgent, type SnmpAgent } from '../support/snmp-agent.js';
import { freePort, startRedis, type ThrowAwayRedis } from '../support/redis-server.js';
import { metricValue, startDaemon, waitFor, writeConfig, type DaemonProcess } from '../support/daemon.js';
import { daemonYaml } from '../support/fleet.js';

const TOKEN = 'status-page-token-3c2d';
const COMMUNITY = 'status-page-community-7e6f';
const XSS_NAME = '<script>alert(1)</script>';
// Device 2 and device 4 go down; 4 has a name that would run as a script if the page didn't escape it.
const FLEET = [
  { address: '127.0.20.1', name: 'core-router-1', org: 'Headquarters Network' },
  { address: '127.0.20.2', name: 'edge-switch-2', org: 'Branch South' },
  { address: '127.0.20.3', name: 'core-router-3', org: 'Headquarters Network' },
  { address: '127.0.20.4', name: XSS_NAME, org: 'Lab & "Test"' },
];
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let redis: ThrowAwayRedis;
let inventory: InventoryServer;
let agents: SnmpAgent[] = [];
let daemon: DaemonProcess;
let browser: Browser;
let origin: string;
let downAfterMs: number;

beforeAll(async () => {
  redis = await startRedis();
  const first = await startSnmpAgent({ address: FLEET[0]!.address, port: 0, community: COMMUNITY });
  agents = [first, ...(await Promise.all(FLEET.slice(1).map((d) => startSnmpAgent({ address: d.address, port: first.port, community: COMMUNITY }))))];
  inventory = await startInventoryServer({
    token: TOKEN,
    devices: FLEET.map((d, i) =>
      fakeDevice(i + 1, { name: d.name, hostname: d.address, management_ip: d.address, snmp_community: COMMUNITY, organization: { id: 100 + i, name: d.org } }),
    ),
  });
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  daemon = startDaemon(['run', '--config', writeConfig(configYaml(inventory.url, first.port))], { INVENTORY_TOKEN: TOKEN, REDIS_URL: redis.url, METRICS_PORT: String(port), LOG_LEVEL: 'info' });
  await waitFor('every device checked twice', async () => (await metricValue(port, 'inventory_prober_checks_total').catch(() => 0)) >= 8);

  downAfterMs = Date.now();
  agents[1]?.setResponding(false);
  agents[3]?.setResponding(false);
  await waitFor('PATCH status:false for devices 2 and 4', () => [2, 4].every((id) => inventory.patches.some((p) => p.id === id)), 30_000);
  // The page is served from a snapshot cached for half an interval; wait until it shows both.
  await waitFor('the status page to list both down devices', async () => (await (await fetch(`${origin}/`)).text()).includes('id="count-down"><b>2<'));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await daemon?.stop('SIGKILL');
  await Promise.all(agents.map((a) => a.close()));
  await inventory?.close();
  await redis?.stop();
});

function configYaml(inventoryUrl: string, snmpPort: number): string {
  return daemonYaml({ inventoryUrl, prefix: 'statuspage', snmpPort });
}

/** What a person sees, read in one go: the page refreshes itself every few seconds. */
interface Seen {
  counts: { up: string; down: string; unknown: string };
  down: string[][];
  flips: string[][];
  sweep: string;
  scripts: number;
}

/** The little of the DOM used below (the project compiles without the DOM lib). */
interface PageNode {
  textContent: string | null;
  querySelector(selector: string): PageNode | null;
  querySelectorAll(selector: string): ArrayLike<PageNode> & Iterable<PageNode>;
}

async function readPage(page: Page): Promise<Seen> {
  return page.evaluate(() => {
    const doc = (globalThis as unknown as { document: PageNode }).document;
    const text = (sel: string) => doc.querySelector(sel)?.textContent?.trim() ?? '';
    const rows = (sel: string) => [...doc.querySelectorAll(`${sel} tbody tr`)].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''));
    return {
      counts: { up: text('#count-up b'), down: text('#count-down b'), unknown: text('#count-unknown b') },
      down: rows('#down'),
      flips: rows('#flips'),
      sweep: text('#sweep'),
      scripts: doc.querySelectorAll('script').length,
    };
  });
}

const UTC_STAMP = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) UTC$/;
const stampMs = (s: string) => Date.parse(s.replace(UTC_STAMP, '$1T$2Z'));

describe('status page at / in a real browser, served by the built daemon', () => {
  let page: Page;
  let seen: Seen;
  const requested: string[] = [];
  const dialogs: string[] = [];

  beforeAll(async () => {
    page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    page.on('request', (r) => requested.push(r.url()));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${origin}/`, { waitUntil: 'load' });
    seen = await readPage(page);
    await page.screenshot({ path: '/tmp/status-page.png', fullPage: true });
  }, 30_000);

  it('shows the fleet counts: 2 Up, 2 Down, 0 Unknown', () => {
    expect(seen.counts).toEqual({ up: '2', down: '2', unknown: '0' });
  });

  it('lists the down device under "Down now" with its organization, since when, and why (snmp)', () => {
    const row = seen.down.find((cells) => cells[0] === 'edge-switch-2');
    expect(row).toBeDefined();
    const [, organization, type, since, failed, why] = row as string[];
    expect({ organization, type, failed }).toEqual({ organization: 'Branch South', type: 'Router', failed: 'snmp' });
    expect(since).toMatch(UTC_STAMP);
    // Stamps are whole seconds: the flip happened after we silenced the agent, and before now.
    expect(stampMs(since as string)).toBeGreaterThanOrEqual(Math.floor(downAfterMs / 1000) * 1000);
    expect(stampMs(since as string)).toBeLessThanOrEqual(Date.now());
    expect(why).toMatch(/^snmp: /);
    expect(seen.down).toHaveLength(2);
  });

  it('shows the flip in "Last flips": when, device, organization, up → down, reason', () => {
    const flip = seen.flips.find((cells) => cells[1] === 'edge-switch-2');
    expect(flip?.[0]).toMatch(UTC_STAMP);
    expect(flip?.slice(2, 4)).toEqual(['Branch South', 'up → down']);
    expect(flip?.[4]).toMatch(/snmp/);
  });

  it("shows the last sweep's figures", () => {
    expect(seen.sweep).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC: 4 devices on 1 page in \d+ ms; \d+ probes? enqueued, \d+ already pending, 0 invalid records skipped\.$/);
  });

  it('shows a device named <script>alert(1)</script> as text, never as markup', () => {
    expect(seen.down.find((cells) => cells[0] === XSS_NAME)?.[1]).toBe('Lab & "Test"');
    expect(seen.flips.some((cells) => cells[1] === XSS_NAME)).toBe(true);
    expect(seen.scripts).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('links to /metrics, which serves the per-device series', async () => {
    await Promise.all([page.waitForURL(`${origin}/metrics`), page.click('a[href="/metrics"]')]);
    const body = (await page.textContent('body')) ?? '';
    expect(body).toMatch(/^inventory_prober_device_up\{device_id="2",.*\} 0$/m);
  });

  it("loads nothing from anywhere but the daemon's own origin", () => {
    expect(requested.length).toBeGreaterThan(0);
    expect(requested.filter((url) => new URL(url).origin !== origin)).toEqual([]);
  });
});
