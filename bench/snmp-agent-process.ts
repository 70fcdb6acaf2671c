/**
 * A fleet of SNMP agents in their own process, for bench/snmp-engines.ts: one net-snmp agent per
 * loopback address 127.2.0.1..127.2.0.N, all on one port, so the benchmark's process measures
 * only the manager side. Started with fork(); sends `{ port }` once every agent listens, and
 * closes them all on 'disconnect'.
 *
 *   (forked by snmp-engines.js) node dist-bench/bench/snmp-agent-process.js <agents> <community>
 */
import { startSnmpAgent, type SnmpAgent } from '../src/demo/snmp-agent.js';

const AGENTS = Number(process.argv[2] ?? 50);
const COMMUNITY = process.argv[3] ?? 'bench';

export const agentAddress = (i: number): string => `127.2.0.${(i % 250) + 1}`;

async function main(): Promise<void> {
  const first = await startSnmpAgent({ address: agentAddress(0), port: 0, community: COMMUNITY });
  const rest: SnmpAgent[] = [];
  for (let i = 1; i < AGENTS; i++) rest.push(await startSnmpAgent({ address: agentAddress(i), port: first.port, community: COMMUNITY }));
  const agents = [first, ...rest];
  agents.forEach((agent, i) => agent.setUptimeTicks(1000 * (i + 1)));
  process.send?.({ port: first.port });
  process.once('disconnect', () => {
    void Promise.all(agents.map((a) => a.close())).then(() => process.exit(0));
  });
}

if (process.send) await main();
