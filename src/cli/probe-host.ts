import type { Config, SnmpVersion } from '../config/types.js';
import type { Device } from '../inventory/device.js';
import { validateTarget } from '../inventory/target.js';
import { usableProbes } from '../probes/icmp-engine.js';
import type { ProbeResult } from '../probes/types.js';
import { checkBudgetMs, checkDevice } from '../worker/check-device.js';

export interface ProbeHostOptions {
  community?: string;
  version?: SnmpVersion;
  out?: NodeJS.WritableStream;
}

/** `inventory-prober probe HOST`: one ICMP + SNMP check, printed for a person. Exit 0 when up. */
export async function probeHost(host: string, base: Config, opts: ProbeHostOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  const target = validateTarget(host);
  if (!target.ok) {
    process.stderr.write(`inventory-prober: "${host.slice(0, 80)}" is not a valid probe target: ${target.reason}\n`);
    return 2;
  }
  const config: Config = { ...base, probes: { ...base.probes, snmp: { ...base.probes.snmp, version: opts.version ?? base.probes.snmp.version } } };
  const device: Device = { id: 0, name: host, target: target.target, organization: null, type: null, inventoryStatus: null, updatedAt: null, snmpCommunity: opts.community };
  const probes = await usableProbes(config);
  try {
    const { check, results } = await checkDevice(device, probes, config, Date.now, AbortSignal.timeout(checkBudgetMs(config)));
    out.write(`${host}\n`);
    for (const r of Object.values(results)) out.write(`  ${describe(r, config)}\n`);
    if (!results.snmp && config.probes.snmp.enabled) out.write('  snmp  skipped   no community configured (pass --community, or set probes.snmp.community)\n');
    out.write(`  verdict (up_when=${config.probes.up_when}): ${check.outcome.toUpperCase()}${check.outcome === 'up' ? '' : ` — ${check.reason}`}\n`);
    return check.outcome === 'up' ? 0 : 1;
  } finally {
    await Promise.all(Object.values(probes).map((p) => p.close?.()));
  }
}

function describe(r: ProbeResult, config: Config): string {
  const head = `${r.kind.padEnd(5)} ${r.outcome.toUpperCase().padEnd(5)}  ${Math.round(r.durationMs)} ms`;
  if (r.kind === 'icmp') return `${head}  ${r.detail}${r.rttMs !== undefined ? `, rtt ${r.rttMs.toFixed(3)} ms` : ''}`;
  const uptime = r.uptimeTicks !== undefined ? `, sysUpTime ${formatTicks(r.uptimeTicks)}` : '';
  return `${head}  SNMPv${config.probes.snmp.version} ${r.detail}${uptime}`;
}

function formatTicks(ticks: number): string {
  const s = Math.floor(ticks / 100);
  const days = Math.floor(s / 86400);
  const hms = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60].map((n) => String(n).padStart(2, '0')).join(':');
  return `${days}d ${hms}`;
}
