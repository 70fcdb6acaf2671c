import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Device } from '../inventory/device.js';
import { probeDelayMs } from '../scheduler/phase.js';
import { probeDedupId, type ProbeJobData } from './jobs.js';

export interface EnqueueResult {
  added: number;
  /** Devices whose previous probe had not run yet: slow workers don't pile up a backlog. */
  alreadyPending: number;
}

export interface CycleTiming {
  cycleStartMs: number;
  intervalMs: number;
  spread: number;
}

/** Puts one page of devices into the probe queue in one round trip (addBulk), phase-delayed. */
export async function enqueueProbes(
  queue: Queue<ProbeJobData>,
  devices: Device[],
  timing: CycleTiming,
  nowMs: number,
): Promise<EnqueueResult> {
  if (devices.length === 0) return { added: 0, alreadyPending: 0 };
  // Unique per call: an id that repeats one still in the queue comes back as if it were ours, and
  // the count below would call a job already pending "added". The deduplication id is what keeps
  // one probe per device pending.
  const batch = randomUUID().slice(0, 8);
  const jobs = devices.map((device) => {
    const jobId = `${device.id}-${timing.cycleStartMs}-${batch}`;
    return {
      name: 'probe',
      data: { device, observedAtMs: nowMs, cycle: timing.cycleStartMs },
      opts: {
        jobId,
        delay: probeDelayMs(device.id, timing.cycleStartMs, nowMs, timing.intervalMs, timing.spread),
        deduplication: { id: probeDedupId(device.id) },
        removeOnComplete: true,
        removeOnFail: 1000,
        attempts: 1,
      },
    };
  });
  const created = await queue.addBulk(jobs);
  // A deduplicated add returns the id of the job already pending, not ours.
  const added = created.filter((job, i) => job.id === jobs[i]?.opts.jobId).length;
  return { added, alreadyPending: devices.length - added };
}
