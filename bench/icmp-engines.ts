/**
 * ICMP engines side by side: one `ping` per device (src/probes/icmp.ts) against batched `fping`
 * (src/probes/fping.ts), through the real Probe objects, with a worker-like number of checks in
 * flight. Every target is a loopback address 127.1.x.y, so nothing leaves the machine.
 * Prints wall time, devices/s and CPU (this process + reaped children); asserts nothing.
 *
 *   npx tsc -p tsconfig.bench.json
 *   node dist-bench/bench/icmp-engines.js [--devices 1000,5000] [--concurrency 50,500] [--engines ping,fping] [--count 3] [--timeout-ms 1000] [--max-batch n] [--window-ms n]
 */
import { parseArgs } from 'node:util';
import { createFpingProbe } from '../src/probes/fping.js';
import { createIcmpProbe } from '../src/probes/icmp.js';
import type { Probe, ProbeOutcome } from '../src/probes/types.js';
import { cpuNow, cpuSince, fmt, runPool } from './cpu.js';

type Engine = 'ping' | 'fping';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000,5000' },
    concurrency: { type: 'string', default: '50,500' },
    engines: { type: 'string', default: 'ping,fping' },
    count: { type: 'string', default: '3' },
    'timeout-ms': { type: 'string', default: '1000' },
    'max-batch': { type: 'string' },
    'window-ms': { type: 'string' },
  },
});
const list = (s: string) => s.split(',').map((v) => v.trim()).filter(Boolean);
const count = Number(values.count);
const timeoutMs = Number(values['timeout-ms']);
// The worker's budget for one check (src/worker/check-device.ts: count × timeout + 1 s).
const budgetMs = count * timeoutMs + 1000;
const maxBatch = values['max-batch'] === undefined ? undefined : Number(values['max-batch']);
const batchWindowMs = values['window-ms'] === undefined ? undefined : Number(values['window-ms']);

/** Loopback targets 127.1.x.y, y in 1..250. */
const address = (i: number) => `127.1.${Math.floor(i / 250) % 256}.${(i % 250) + 1}`;

function build(engine: Engine): Probe {
  return engine === 'ping' ? createIcmpProbe({ count, timeoutMs }) : createFpingProbe({ count, timeoutMs, maxBatch, batchWindowMs });
}

async function measure(engine: Engine, devices: number, concurrency: number) {
  const probe = build(engine);
  const outcomes: Record<ProbeOutcome, number> = { up: 0, down: 0, error: 0 };
  const cpu = cpuNow();
  const started = performance.now();
  await runPool(devices, concurrency, async (i) => {
    const result = await probe.run({ deviceId: i, address: address(i) }, AbortSignal.timeout(budgetMs));
    outcomes[result.outcome]++;
  });
  const wallMs = performance.now() - started;
  const used = cpuSince(cpu);
  await probe.close?.();
  const totalMs = used.selfMs + used.childrenMs;
  return { engine, devices, concurrency, wallMs, used, totalMs, outcomes };
}

async function main(): Promise<void> {
  console.log(`ICMP engines: count ${count}, timeout ${timeoutMs} ms, budget ${budgetMs} ms, fping max batch ${maxBatch ?? 'default'}, ${process.platform} ${process.version}`);
  console.log('engine | devices | in flight | wall s | devices/s | CPU self s | CPU children s | CPU ms / 1000 probes | up/down/error');
  for (const devices of list(values.devices).map(Number)) {
    for (const concurrency of list(values.concurrency).map(Number)) {
      for (const engine of list(values.engines) as Engine[]) {
        const r = await measure(engine, devices, concurrency);
        console.log(
          [
            r.engine,
            r.devices,
            r.concurrency,
            fmt(r.wallMs / 1000, 2),
            fmt(r.devices / (r.wallMs / 1000)),
            fmt(r.used.selfMs / 1000, 2),
            fmt(r.used.childrenMs / 1000, 2),
            fmt((r.totalMs / r.devices) * 1000),
            `${r.outcomes.up}/${r.outcomes.down}/${r.outcomes.error}`,
          ].join(' | '),
        );
      }
    }
  }
}

await main();
