import type { Config } from '../config/types.js';
import { InventoryClient } from '../inventory/client.js';
import type { Device } from '../inventory/device.js';
import { createInventoryHttp, inventoryHttpSettings } from '../inventory/http.js';
import { usableProbes } from '../probes/icmp-engine.js';
import { checkBudgetMs, checkDevice, type DeviceCheck } from '../worker/check-device.js';
import { DetailsCache } from '../inventory/details.js';
import { renderTable } from './table.js';

export interface SweepOnceOptions {
  dryRun: boolean;
  out?: NodeJS.WritableStream;
}

const CONCURRENCY = 32;

/**
 * One sweep in the foreground, without Redis or the queue: every device is checked once and
 * the single check is the verdict (no hysteresis: this is an audit, or a repair run from cron).
 * Unless --dry-run, devices whose verdict differs from the inventory are PATCHed.
 */
export async function sweepOnce(config: Config, opts: SweepOnceOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  const http = createInventoryHttp(inventoryHttpSettings(config.inventory));
  const inventory = new InventoryClient(http);
  const probes = await usableProbes(config);
  const details = new DetailsCache({ inventory, concurrency: config.inventory.detail_concurrency });
  const rows: string[][] = [];
  let patched = 0;
  let failed = 0;
  try {
    for await (const page of inventory.listDevices({ pageSize: config.inventory.page_size, filters: config.inventory.filters, concurrency: config.inventory.page_concurrency })) {
      if (!page.ok) {
        rows.push([`page at offset ${page.offset}`, '-', '-', '-', 'failed', '-', `not read: ${page.error.message}`]);
        failed++;
        continue;
      }
      for (const bad of page.invalid) rows.push([String(bad.id ?? '?'), '-', '-', '-', 'invalid', '-', `skipped: ${bad.reason}`]);
      const devices = await details.enrich(page.devices, page.rows);
      const checks = await mapLimit(devices, CONCURRENCY, (d) => checkDevice(d, probes, config, Date.now, AbortSignal.timeout(checkBudgetMs(config))));
      for (const [i, device] of devices.entries()) {
        const check = checks[i] as DeviceCheck;
        const wouldPatch = patchWanted(device, check);
        let action = wouldPatch === undefined ? 'no' : `yes → ${wouldPatch ? 'up' : 'down'}`;
        if (wouldPatch !== undefined && !opts.dryRun) {
          try {
            await inventory.patchStatus(device.id, wouldPatch);
            action = `patched → ${wouldPatch ? 'up' : 'down'}`;
            patched++;
          } catch (err) {
            action = `PATCH failed: ${(err as Error).message}`;
            failed++;
          }
        }
        rows.push(row(device, check, action));
      }
    }
  } finally {
    details.close();
    await Promise.all(Object.values(probes).map((p) => p.close?.()));
    await http.close();
  }
  out.write(renderTable(['device', 'target', 'icmp', 'snmp', 'decided', 'inventory', opts.dryRun ? 'would PATCH' : 'PATCH'], rows));
  out.write(`\n${rows.length} rows; ${opts.dryRun ? 'dry run: nothing written' : `${patched} PATCHed, ${failed} failed`}\n`);
  return failed > 0 ? 1 : 0;
}

/** The status to write, or undefined when the inventory already agrees or the check was inconclusive. */
function patchWanted(device: Device, check: DeviceCheck): boolean | undefined {
  if (check.check.outcome === 'error') return undefined;
  const up = check.check.outcome === 'up';
  return device.inventoryStatus === up ? undefined : up;
}

function row(device: Device, check: DeviceCheck, action: string): string[] {
  const probe = (kind: 'icmp' | 'snmp') => {
    const r = check.results[kind];
    return r ? `${r.outcome}${r.outcome === 'up' ? '' : ` (${r.reason})`}` : '-';
  };
  const inv = device.inventoryStatus === null ? 'unknown' : device.inventoryStatus ? 'up' : 'down';
  return [`${device.name} #${device.id}`, device.target, probe('icmp'), probe('snmp'), check.check.outcome, inv, action];
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}
