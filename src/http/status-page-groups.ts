import type { GroupFigures } from '../queue/group-coverage.js';
import type { DeviceSeries } from '../metrics/device-series.js';
import { esc, when } from './html.js';

/** `site-a down, site-b up`: what each voting group holds (1/0 in series, words in flip records). */
export function votesOf(votes: Record<string, string | number>): string {
  return Object.entries(votes)
    .map(([group, v]) => `${group} ${v === 1 || v === 'up' ? 'up' : 'down'}`)
    .join(', ');
}

/** Up devices whose groups disagree: a vantage point sees a failure the quorum does not confirm. */
export function splitTable(split: DeviceSeries[]): string {
  if (split.length === 0) return '';
  const rows = split.map((s) => `<tr><td>${esc(s.n)}</td><td>${esc(s.o)}</td><td>${esc(votesOf(s.g ?? {}))}</td><td>${when(s.c * 1000)}</td></tr>`).join('\n');
  return `<h2>Groups disagree (still Up: too few groups hold them Down)</h2>
<table id="split"><thead><tr><th>Device</th><th>Organization</th><th>Groups</th><th>Up since</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

/**
 * Probe groups, and the devices no worker of a group checked for two cycles: they are "not
 * probed", keep the status they had, and are listed here instead of being flipped.
 */
export function groupsSection(groups: Record<string, GroupFigures>): string {
  const entries = Object.entries(groups);
  if (entries.length === 0 || (entries.length === 1 && entries[0]?.[1].notProbed === 0 && entries[0][0] === 'default')) return '';
  const rows = entries
    .map(([group, g]) => {
      const sample = g.notProbedSample.map((d) => esc(d.name)).join(', ');
      const more = g.notProbed > g.notProbedSample.length ? ` and ${g.notProbed - g.notProbedSample.length} more` : '';
      const state = g.notProbed === 0 ? 'probed' : g.notProbed >= g.devices ? 'not probed: no worker took its work' : 'partly not probed';
      return `<tr data-group="${esc(group)}"><td>${esc(group)}</td><td>${g.devices}</td><td>${g.notProbed}</td><td>${state}</td><td>${sample}${more}</td></tr>`;
    })
    .join('\n');
  return `<h2>Probe groups</h2>
<table id="groups"><thead><tr><th>Group</th><th>Devices</th><th>Not probed</th><th>State</th><th>Devices not probed</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}
