/**
 * SNMP engines side by side: a net-snmp session per probe (perProbeSessions) against one shared
 * session per address family (src/probes/snmp-pool.ts), through the real SNMP Probe, GETting
 * sysUpTime.0 from agents on 127.2.0.x that run in a separate process (bench/snmp-agent-process.ts),
 * so "CPU self" is the manager's cost alone. Prints wall, GETs/s and CPU; asserts nothing.
 *
 *   npx tsc -p tsconfig.bench.json
 *   node dist-bench/bench/snmp-engines.js [--gets 10000] [--concurrency 100,1000] [--agents 50] [--engines session-per-probe,shared]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { sharedSessions } from '../src/probes/snmp-pool.js';
import { createSnmpProbe } from '../src/probes/snmp.js';
import type { Probe, ProbeOutcome } from '../src/probes/types.js';
import { cpuNow, cpuSince, fmt, processCpuMs, runPool } from './cpu.js';
import { agentAddress } from './snmp-agent-process.js';

type Engine = 'session-per-probe' | 'shared';
const COMMUNITY = 'bench-community';
const TIMEOUT_MS = 2000;
const RETRIES = 1;

const { values } = parseArgs({
  options: {
    gets: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '100,1000' },
    agents: { type: 'string', default: '50' },
    engines: { type: 'string', default: 'session-per-probe,shared' },
  },
});
const list = (s: string) => s.split(',').map((v) => v.trim()).filter(Boolean);

function startAgents(count: number): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(new URL('./snmp-agent-process.js', import.meta.url), [String(count), COMMUNITY], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: (m as { port: number }).port }));
    child.once('exit', (code) => reject(new Error(`agent process exited ${code}`)));
  });
}

function build(engine: Engine, port: number): Probe {
  const opts = { port, timeoutMs: TIMEOUT_MS, retries: RETRIES };
  return createSnmpProbe(engine === 'shared' ? { ...opts, sessions: sharedSessions(opts) } : opts);
}

async function measure(engine: Engine, gets: number, concurrency: number, agents: number, port: number, agentPid: number) {
  const probe = build(engine, port);
  const outcomes: Record<ProbeOutcome, number> = { up: 0, down: 0, error: 0 };
  const agentCpu = processCpuMs(agentPid);
  const cpu = cpuNow();
  const started = performance.now();
  await runPool(gets, concurrency, async (i) => {
    const result = await probe.run({ deviceId: i, address: agentAddress(i % agents), snmp: { version: '2c', community: COMMUNITY } }, AbortSignal.timeout(TIMEOUT_MS * (RETRIES + 1) + 1000));
    outcomes[result.outcome]++;
  });
  const wallMs = performance.now() - started;
  const used = cpuSince(cpu);
  const agentMs = processCpuMs(agentPid) - agentCpu;
  await probe.close?.();
  return { wallMs, selfMs: used.selfMs, agentMs, outcomes };
}

async function main(): Promise<void> {
  const agents = Number(values.agents);
  const { child, port } = await startAgents(agents);
  try {
    console.log(`SNMP engines: ${agents} agents on 127.2.0.x:${port} (separate process), v2c GET sysUpTime.0, timeout ${TIMEOUT_MS} ms × ${RETRIES + 1}, ${process.version}`);
    console.log('engine | GETs | in flight | wall s | GETs/s | CPU self s | CPU ms / 1000 GETs | agents\' CPU s | up/down/error');
    for (const concurrency of list(values.concurrency).map(Number)) {
      for (const engine of list(values.engines) as Engine[]) {
        const gets = Number(values.gets);
        const r = await measure(engine, gets, concurrency, agents, port, child.pid as number);
        const row = [engine, gets, concurrency, fmt(r.wallMs / 1000, 2), fmt(gets / (r.wallMs / 1000)), fmt(r.selfMs / 1000, 2), fmt((r.selfMs / gets) * 1000), fmt(r.agentMs / 1000, 2)];
        console.log([...row, `${r.outcomes.up}/${r.outcomes.down}/${r.outcomes.error}`].join(' | '));
      }
    }
  } finally {
    child.disconnect();
  }
}

await main();
