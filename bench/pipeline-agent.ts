/**
 * The pipeline benchmark's SNMP side in its own process, so its CPU never lands on the bench or
 * the daemon: ONE net-snmp agent bound to 0.0.0.0 answers GETs sent to any 127.x.y.z (the
 * manager matches answers by request id, not by source address — checked for both SNMP
 * engines). Requests with another community are dropped, which is how devices go silent.
 * Started with fork(); sends `{ port }` once listening and closes on 'disconnect'.
 *
 *   (forked by pipeline.js) node dist-bench/bench/pipeline-agent.js <community>
 */
import { startSnmpAgent } from '../src/demo/snmp-agent.js';

async function main(): Promise<void> {
  // One socket stands in for a whole fleet of agents, so it takes the bursts a fleet would
  // spread over many: with Linux's default ~208 KiB buffer, the GETs of one phase second
  // overflowed it (UdpRcvbufErrors) and the devices read as SNMP timeouts.
  const agent = await startSnmpAgent({ address: '0.0.0.0', port: 0, community: process.argv[2] ?? 'bench', recvBufferBytes: 4 * 1024 * 1024 });
  agent.setUptimeTicks(100_000);
  process.send?.({ port: agent.port });
  process.once('disconnect', () => {
    void agent.close().then(() => process.exit(0));
  });
}

if (process.send) await main();
