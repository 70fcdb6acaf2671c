/**
 * Blocks this process's event loop, as a CPU-starved worker's loop is blocked: from the check
 * phase, as work done in an I/O callback would, so the next turn of the loop starts with the
 * timers that came due meanwhile, before any socket is read.
 */
export function blockEventLoop(ms: number): Promise<void> {
  return new Promise((resolve) =>
    setImmediate(() => {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        // spin
      }
      resolve();
    }),
  );
}
