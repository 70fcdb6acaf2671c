import type { FakeDevice } from './fake-inventory.js';
import type { SnmpAgent } from './snmp-agent.js';

export interface ChaosOptions {
  agents: SnmpAgent[];
  fleet: FakeDevice[];
  everyMs: number;
  say: (line: string) => void;
  random?: () => number;
}

/**
 * Every `everyMs`, silences one device's SNMP agent or brings a silenced one back, so the
 * demo shows Up→Down and Down→Up flips without anyone touching a cable.
 */
export function startChaos(opts: ChaosOptions): { stop: () => void } {
  const random = opts.random ?? Math.random;
  const silenced = new Set<number>();
  let bringBack = false;
  const timer = setInterval(() => {
    if (bringBack && silenced.size > 0) {
      const i = [...silenced][0] as number;
      silenced.delete(i);
      opts.agents[i]?.setResponding(true);
      opts.say(`chaos: ${opts.fleet[i]?.name} (${opts.fleet[i]?.hostname}) answers again — expect a Down→Up flip`);
    } else {
      const i = Math.floor(random() * opts.agents.length);
      silenced.add(i);
      opts.agents[i]?.setResponding(false);
      opts.say(`chaos: ${opts.fleet[i]?.name} (${opts.fleet[i]?.hostname}) stops answering SNMP — expect an Up→Down flip`);
    }
    bringBack = !bringBack;
  }, opts.everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
