import { readFileSync } from 'node:fs';

/**
 * CPU bookkeeping for the engine benchmarks: this process (all threads, from process.cpuUsage)
 * and its reaped children (cutime + cstime from /proc/self/stat), in milliseconds. Spawned ping
 * and fping processes are reaped as they exit, so they land in the children's figure.
 */
export interface CpuSample {
  selfMs: number;
  childrenMs: number;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

export function cpuNow(): CpuSample {
  const self = process.cpuUsage();
  return { selfMs: (self.user + self.system) / 1000, childrenMs: childTicks('self') * TICK_MS };
}

export function cpuSince(start: CpuSample): CpuSample {
  const end = cpuNow();
  return { selfMs: end.selfMs - start.selfMs, childrenMs: end.childrenMs - start.childrenMs };
}

/** utime + stime of another process (a helper like the SNMP agents), in milliseconds. */
export function processCpuMs(pid: number): number {
  const fields = statFields(String(pid));
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** cutime + cstime: CPU of children that have exited and been waited for. */
function childTicks(pid: string): number {
  const fields = statFields(pid);
  return Number(fields[13]) + Number(fields[14]);
}

/** /proc/<pid>/stat fields after the command name (field 3 onwards), which may contain spaces. */
function statFields(pid: string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Runs `task` for every index with at most `concurrency` in flight, like a worker's concurrency. */
export async function runPool(total: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < total) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane));
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
