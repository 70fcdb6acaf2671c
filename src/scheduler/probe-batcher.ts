import type { Device } from '../inventory/device.js';
import type { DeviceToCheck, Quorum } from '../queue/jobs.js';
import { NOTHING_ENQUEUED, type EnqueueResult } from '../queue/probe-queue.js';
import { PHASE_SLOT_MS, phaseSlot } from './phase.js';

export interface BatcherSettings {
  cycleStartMs: number;
  intervalMs: number;
  spread: number;
  batchSize: number;
}

/** Queues one batch of devices of one phase slot. */
export type SendBatch = (slot: number, devices: DeviceToCheck[], nowMs: number) => Promise<EnqueueResult>;

/**
 * Groups one sweep's devices by phase slot into probe jobs of up to `batchSize`. A slot is
 * sent as soon as it is full; once a second of sweep time, the slots whose second of the cycle
 * is about to come (so a long sweep doesn't hold early devices back, nor send them a few at a
 * time with every page); and whatever is left at the end of the sweep. Memory holds at most
 * one partial batch per slot.
 */
export class ProbeBatcher {
  private readonly slots = new Map<number, DeviceToCheck[]>();
  private dueSentAtMs = -Infinity;

  constructor(
    private readonly settings: BatcherSettings,
    private readonly sendBatch: SendBatch,
  ) {}

  /** `quorum` travels with each device: the groups that vote on it, and how many make it Down. */
  async add(devices: Device[], observedAtMs: number, nowMs: number, quorum?: Quorum): Promise<EnqueueResult> {
    const { intervalMs, spread, batchSize } = this.settings;
    const ready: [number, DeviceToCheck[]][] = [];
    for (const device of devices) {
      const slot = phaseSlot(device.id, intervalMs, spread);
      const batch = this.slots.get(slot) ?? [];
      if (batch.length === 0) this.slots.set(slot, batch);
      batch.push(quorum ? { device, observedAtMs, quorum } : { device, observedAtMs });
      if (batch.length >= batchSize) {
        ready.push([slot, batch]);
        this.slots.delete(slot);
      }
    }
    if (nowMs - this.dueSentAtMs >= PHASE_SLOT_MS) {
      this.dueSentAtMs = nowMs;
      for (const [slot, batch] of this.slots) {
        if (this.slotStartMs(slot) > nowMs + PHASE_SLOT_MS) continue;
        ready.push([slot, batch]);
        this.slots.delete(slot);
      }
    }
    return this.send(ready, nowMs);
  }

  /** Sends every partial batch: the sweep is over (or failed, and what was read still gets probed). */
  async flush(nowMs: number): Promise<EnqueueResult> {
    const ready = [...this.slots];
    this.slots.clear();
    return this.send(ready, nowMs);
  }

  private slotStartMs(slot: number): number {
    return this.settings.cycleStartMs + slot * PHASE_SLOT_MS;
  }

  private async send(ready: [number, DeviceToCheck[]][], nowMs: number): Promise<EnqueueResult> {
    const total = { ...NOTHING_ENQUEUED };
    for (const [slot, batch] of ready) {
      const sent = await this.sendBatch(slot, batch, nowMs);
      total.added += sent.added;
      total.alreadyPending += sent.alreadyPending;
    }
    return total;
  }
}
