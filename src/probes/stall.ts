/**
 * A timer this much later than it was asked to fire means this process's event loop stalled
 * (CPU starvation, a GC pause, a long scrape): replies may be waiting in the sockets, so no
 * timeout is judged until the loop has caught up (snmp-timeouts.ts, deadline-queue.ts).
 */
export const STALL_TOLERANCE_MS = 25;
