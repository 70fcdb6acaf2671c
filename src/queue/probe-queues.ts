import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { probeQueueName, type ProbeJobData } from './jobs.js';

/**
 * The probe queues of every group this process has dealt with, one BullMQ queue per group,
 * opened on first use and kept until shutdown: a reload may route to new groups, and their
 * queue gauges must appear without a restart.
 */
export class ProbeQueues {
  private readonly queues = new Map<string, Queue<ProbeJobData>>();

  constructor(
    private readonly connection: Redis,
    private readonly prefix: string,
    private readonly onError: (queue: string, err: Error) => void,
  ) {}

  get(group: string): Queue<ProbeJobData> {
    let queue = this.queues.get(group);
    if (!queue) {
      const name = probeQueueName(group);
      queue = new Queue<ProbeJobData>(name, { connection: this.connection, prefix: this.prefix });
      // Without a listener BullMQ prints each connection error as a bare stack trace on stderr.
      queue.on('error', (err) => this.onError(name, err));
      this.queues.set(group, queue);
    }
    return queue;
  }

  /** Every open queue by its queue name (`probe`, `probe-site-a`, …), for the queue gauges. */
  byName(): Record<string, Queue> {
    return Object.fromEntries([...this.queues.values()].map((q) => [q.name, q]));
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
