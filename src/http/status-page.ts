import type { DeviceSeries } from '../metrics/device-series.js';
import type { FlipRecord } from '../status/flip-log.js';
import type { GroupFigures } from '../queue/group-coverage.js';
import { groupsSection, splitTable, votesOf } from './status-page-groups.js';
import { esc, when } from './html.js';

export interface StatusPageData {
  up: number;
  down: number;
  unknown: number;
  downDevices: DeviceSeries[];
  /** Up devices some of whose voting groups hold them Down. */
  split: DeviceSeries[];
  /** Probe groups of the last sweep: devices routed, devices not probed. */
  groups: Record<string, GroupFigures>;
  flips: FlipRecord[];
  lastSweep?: Record<string, number>;
  intervalSeconds: number;
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/**
 * The status page at `/`: one self-contained HTML document (no scripts from elsewhere, no build
 * step) that refreshes itself. Every value from the inventory is escaped: device names are
 * untrusted input.
 */
export function renderStatusPage(d: StatusPageData): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="${Math.max(5, Math.min(d.intervalSeconds, 30))}">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>inventory-prober status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.5rem}
.counts{display:flex;gap:1rem}.count{padding:.6rem 1rem;border-radius:6px;background:#eee;min-width:6rem}
.count b{display:block;font-size:1.6rem}.up b{color:#1a7f37}.down.some b{color:#cf222e}
table{border-collapse:collapse;margin-top:.4rem}td,th{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left}
.muted{color:#666}
</style></head><body>
<h1>inventory-prober</h1>
<section class="counts" aria-label="fleet">
<div class="count up" id="count-up"><b>${d.up}</b>Up</div>
<div class="count down${d.down > 0 ? ' some' : ''}" id="count-down"><b>${d.down}</b>Down</div>
<div class="count" id="count-unknown"><b>${d.unknown}</b>Unknown</div>
<div class="count${notProbed(d) > 0 ? ' down some' : ''}" id="count-not-probed"><b>${notProbed(d)}</b>Not probed</div>
</section>
<h2>Down now</h2>
${downTable(d.downDevices)}
${splitTable(d.split)}
${groupsSection(d.groups)}
<h2>Last flips</h2>
${flipTable(d.flips)}
<h2>Last sweep</h2>
${sweepFigures(d.lastSweep)}
<p class="muted"><a href="/metrics">/metrics</a> · <a href="/readyz">/readyz</a> · <a href="/healthz">/healthz</a></p>
</body></html>
`;
}

/** Devices no live worker of their group checks: shown, never flipped. */
const notProbed = (d: StatusPageData) => Object.values(d.groups).reduce((n, g) => n + g.notProbed, 0);

function downTable(devices: DeviceSeries[]): string {
  if (devices.length === 0) return '<p id="down-none">No device is down.</p>';
  const rows = devices
    .map((s) => `<tr><td>${esc(s.n)}</td><td>${esc(s.o)}</td><td>${esc(s.t)}</td><td>${when(s.c * 1000)}</td><td>${esc(s.r)}</td><td>${esc(s.w)}${s.g ? ` <span class="muted">(${esc(votesOf(s.g))})</span>` : ''}</td></tr>`)
    .join('\n');
  return `<table id="down"><thead><tr><th>Device</th><th>Organization</th><th>Type</th><th>Down since</th><th>Failed</th><th>Why</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

function flipTable(flips: FlipRecord[]): string {
  if (flips.length === 0) return '<p id="flips-none">No flip yet.</p>';
  const rows = flips
    .map((f) => `<tr><td>${when(f.atMs)}</td><td>${esc(f.device)}</td><td>${esc(f.organization)}</td><td>${esc(f.from)} → ${esc(f.to)}</td><td>${esc(f.reason)}${f.groups ? ` <span class="muted">(${esc(votesOf(f.groups))})</span>` : ''}</td></tr>`)
    .join('\n');
  return `<table id="flips"><thead><tr><th>When</th><th>Device</th><th>Organization</th><th>Flip</th><th>Reason</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

function sweepFigures(s: Record<string, number> | undefined): string {
  if (!s) return '<p id="sweep-none">No sweep completed yet.</p>';
  return `<p id="sweep">${when(s.atMs ?? 0)}: ${plural(s.devices ?? 0, 'device')} on ${plural(s.pages ?? 0, 'page')} in ${s.durationMs ?? 0} ms; ${plural(s.enqueued ?? 0, 'probe')} enqueued, ${s.alreadyPending ?? 0} already pending, ${plural(s.invalid ?? 0, 'invalid record')} skipped.${awaiting(s.awaitingDetail ?? 0)}</p>`;
}

/** A cold start or a bulk edit in the inventory: devices listed but not probed until their detail arrives. */
function awaiting(n: number): string {
  return n > 0 ? ` ${plural(n, 'device')} awaiting ${n === 1 ? 'its' : 'their'} detail (not probed this cycle).` : '';
}
