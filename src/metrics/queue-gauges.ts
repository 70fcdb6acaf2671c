import type { Queue } from 'bullmq';
import type { Metrics } from './metrics.js';

const STATES = ['waiting', 'delayed', 'active', 'failed', 'prioritized'] as const;
const PENDING = ['waiting', 'delayed', 'active', 'prioritized'] as const;

/**
 * Reads queue sizes for the gauges. Called before each scrape rather than on a timer: no
 * Redis traffic when nobody looks, and the figures are as fresh as the scrape.
 */
export async function refreshQueueGauges(metrics: Metrics, queues: Record<string, Queue>, reportQueue?: Queue): Promise<void> {
  for (const [name, queue] of Object.entries(queues)) {
    const counts = await queue.getJobCounts(...STATES);
    for (const state of STATES) metrics.queueJobs.set({ queue: name, state }, counts[state] ?? 0);
  }
  if (reportQueue) {
    const counts = await reportQueue.getJobCounts(...PENDING);
    metrics.patchQueueDepth.set(PENDING.reduce((sum, s) => sum + (counts[s] ?? 0), 0));
  }
}
