/**
 * ICMP engines side by side: in-process sockets (`native`, src/probes/native-icmp.ts), batched
 * `fping` (src/probes/fping.ts) and one `ping` per device (src/probes/icmp.ts), through the real
 * Probe objects, with a worker-like number of checks in flight, as root and as an unprivileged
 * user. Every target is a loopback address 127.1.x.y, so nothing leaves the machine.
 * Prints wall time, devices/s and CPU (the measuring process + its reaped children); asserts nothing.
 *
 *   npm run bench:engines -- [--devices n] [--native-devices 20000] [--process-devices 2000]
 *     [--concurrency 50,500,2000] [--engines native,fping,ping] [--modes root,unprivileged] [--count 3]
 *     [--timeout-ms 1000] [--batch-size 100] [--max-batch n] [--window-ms n] [--warm-up n]
 *
 * Checks per row: the native engine costs a few µs a check, so its rows run 20,000 checks (0.1-0.3 s
 * of CPU; 2,000 measured 0.01-0.05 s, within the noise of a shared machine); fping and ping cost
 * 0.1-3 ms a check and keep 2,000. `--devices` sets every engine's count at once.
 * Each row follows an untimed warm-up of the same engine at the same concurrency, on other
 * addresses: 5,000 checks for native (V8 is still compiling the engine's hot paths over the first
 * thousands of checks, which a daemon pays once, not per cycle; after a 500-check warm-up the
 * first row measured 1.5-2x its steady figure), 500 for the others (`--warm-up` overrides both).
 * Every `--batch-size` consecutive checks share one AbortSignal.timeout budget, as a probe job's
 * devices do in the worker (worker.batch_size); a signal per check would add ~10 µs to each.
 *
 * Each mode runs in its own child process. `unprivileged`: uid 65534, no capabilities,
 * no_new_privs, with net.ipv4.ping_group_range opened to group 65534 for the run and restored
 * after (bench/unprivileged.ts). The bounding set is kept there, or Debian's ping and fping (file
 * capability cap_net_raw+ep) could not be exec'd at all; their capability is ignored anyway.
 * As root, native and fping use raw sockets (ping_group_range "1 0" admits nobody); unprivileged,
 * native and ping use datagram sockets and Debian's fping 5.1 hears no reply on its (issue 248).
 */
import { spawnSync } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createFpingProbe } from '../src/probes/fping.js';
import { createIcmpProbe } from '../src/probes/icmp.js';
import { createNativeIcmpProbe, type NativeIcmpProbe } from '../src/probes/native-icmp.js';
import type { Probe, ProbeOutcome } from '../src/probes/types.js';
import { cpuNow, cpuSince, fmt, runPool } from './cpu.js';
import { asNobody, openPingGroupRangeForNobody } from './unprivileged.js';

type Engine = 'native' | 'ping' | 'fping';

const { values } = parseArgs({
  options: {
    devices: { type: 'string' },
    'native-devices': { type: 'string', default: '20000' },
    'process-devices': { type: 'string', default: '2000' },
    'warm-up': { type: 'string' },
    concurrency: { type: 'string', default: '50,500,2000' },
    engines: { type: 'string', default: 'native,fping,ping' },
    modes: { type: 'string', default: 'root,unprivileged' },
    count: { type: 'string', default: '3' },
    'timeout-ms': { type: 'string', default: '1000' },
    'max-batch': { type: 'string' },
    'window-ms': { type: 'string' },
    'batch-size': { type: 'string', default: '100' },
    'as-child': { type: 'string' },
  },
});
const list = (s: string) => s.split(',').map((v) => v.trim()).filter(Boolean);
const count = Number(values.count);
const timeoutMs = Number(values['timeout-ms']);
// The worker's budget for one check (src/worker/check-device.ts: count × timeout + 1 s).
const budgetMs = count * timeoutMs + 1000;
const maxBatch = values['max-batch'] === undefined ? undefined : Number(values['max-batch']);
const batchWindowMs = values['window-ms'] === undefined ? undefined : Number(values['window-ms']);
const batchSize = Number(values['batch-size']);

/** Loopback targets 127.1.x.y, y in 1..250. */
const address = (i: number) => `127.1.${Math.floor(i / 250) % 256}.${(i % 250) + 1}`;

function build(engine: Engine): Probe {
  if (engine === 'native') return createNativeIcmpProbe({ count, timeoutMs });
  return engine === 'ping' ? createIcmpProbe({ count, timeoutMs }) : createFpingProbe({ count, timeoutMs, maxBatch, batchWindowMs });
}

interface Row {
  mode: string;
  engine: Engine;
  devices: number;
  concurrency: number;
  wallMs: number;
  selfMs: number;
  childrenMs: number;
  outcomes: Record<ProbeOutcome, number>;
  socket: string;
}

async function measure(mode: string, engine: Engine, devices: number, concurrency: number): Promise<Row> {
  const probe = build(engine);
  // As in the worker (probe-worker.ts, CheckSlots), the checks of one job share one budget signal.
  // The warm-up shares them too: a signal per warm-up check would fire by the thousand 4 s later,
  // inside whichever row runs then.
  const budgetsFor = () => {
    const budgets: AbortSignal[] = [];
    return (i: number) => {
      const k = Math.floor(i / batchSize);
      if (!budgets[k]) setMaxListeners(0, (budgets[k] = AbortSignal.timeout(budgetMs)));
      return budgets[k];
    };
  };
  // Untimed warm-up on other addresses: JIT, sockets opened, binaries in the page cache.
  const warmUp = values['warm-up'] === undefined ? (engine === 'native' ? 5000 : Math.min(devices, 500)) : Number(values['warm-up']);
  const warmUpBudget = budgetsFor();
  await runPool(warmUp, concurrency, async (i) => void (await probe.run({ deviceId: i, address: address(devices + i) }, warmUpBudget(i))));
  const outcomes: Record<ProbeOutcome, number> = { up: 0, down: 0, error: 0 };
  const cpu = cpuNow();
  const started = performance.now();
  const budget = budgetsFor();
  await runPool(devices, concurrency, async (i) => {
    const result = await probe.run({ deviceId: i, address: address(i) }, budget(i));
    outcomes[result.outcome]++;
  });
  const wallMs = performance.now() - started;
  const used = cpuSince(cpu);
  const socket = engine === 'native' ? ((probe as NativeIcmpProbe).sockets()[0]?.kind ?? 'none') : engine === 'fping' ? (mode === 'root' ? 'raw' : 'dgram') : 'own';
  await probe.close?.();
  return { mode, engine, devices, concurrency, wallMs, selfMs: used.selfMs, childrenMs: used.childrenMs, outcomes, socket };
}

/** In the child: every row of one mode, one JSON line each. */
async function child(mode: string): Promise<void> {
  const devicesFor = (engine: Engine) => Number(values.devices ?? (engine === 'native' ? values['native-devices'] : values['process-devices']));
  for (const concurrency of list(values.concurrency).map(Number)) {
    for (const engine of list(values.engines) as Engine[]) console.log(JSON.stringify(await measure(mode, engine, devicesFor(engine), concurrency)));
  }
}

function runMode(mode: string): Row[] {
  const self = fileURLToPath(import.meta.url);
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--modes' && all[i - 1] !== '--modes');
  const argv = [process.execPath, self, ...args, '--as-child', mode];
  let restore = () => {};
  if (mode === 'unprivileged') restore = openPingGroupRangeForNobody();
  try {
    const cmd = mode === 'unprivileged' ? [...asNobody({ emptyBoundingSet: false }), ...argv] : argv;
    const ran = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (ran.status !== 0) throw new Error(`${mode} run failed (${ran.status}): ${ran.stderr.slice(-2000)}`);
    return ran.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Row);
  } finally {
    restore();
  }
}

async function main(): Promise<void> {
  if (values['as-child']) return child(values['as-child']);
  console.log(
    `ICMP engines: count ${count}, timeout ${timeoutMs} ms, budget ${budgetMs} ms shared by ${batchSize} checks, fping max batch ${maxBatch ?? 'default'}, warm-up ${values['warm-up'] ?? 'native 5000, others 500'}, ${process.platform} ${process.version}`,
  );
  console.log('mode | engine | socket | devices | in flight | wall s | devices/s | CPU self s | CPU children s | CPU ms / 1000 checks (= µs / check) | up/down/error');
  for (const mode of list(values.modes)) {
    for (const r of runMode(mode)) {
      const totalMs = r.selfMs + r.childrenMs;
      console.log(
        [
          r.mode,
          r.engine,
          r.socket,
          r.devices,
          r.concurrency,
          fmt(r.wallMs / 1000, 2),
          fmt(r.devices / (r.wallMs / 1000)),
          fmt(r.selfMs / 1000, 2),
          fmt(r.childrenMs / 1000, 2),
          fmt((totalMs / r.devices) * 1000, 1),
          `${r.outcomes.up}/${r.outcomes.down}/${r.outcomes.error}`,
        ].join(' | '),
      );
    }
  }
}

await main();
