import { describe, expect, it } from 'vitest';
import { createNativeIcmpProbe } from '../../src/probes/native-icmp.js';
import { blockEventLoop } from '../support/event-loop.js';

/**
 * A busy worker must not call a device Down because its own event loop was blocked when the
 * reply came. On loopback the kernel answers an echo request at once, so the reply waits in the
 * socket's receive buffer; if the loop then stays busy past the request's timeout, libuv runs
 * the due timer *before* it reads the socket. The engine must read what is there first.
 */
const isRoot = process.getuid?.() === 0;
const TIMEOUT_MS = 200;

describe.skipIf(!isRoot)('native ICMP timeouts after an event-loop stall (real sockets, as root)', () => {
  it('a reply that arrived while the loop was blocked past the timeout counts: up, not no-reply', async () => {
    const probe = createNativeIcmpProbe({ count: 1, timeoutMs: TIMEOUT_MS });
    try {
      // Warm: the socket is open, so the next request leaves on the engine's next send turn.
      expect(await probe.run({ deviceId: 1, address: '127.0.0.1' }, AbortSignal.timeout(5_000))).toMatchObject({ outcome: 'up' });
      for (const address of ['127.0.0.1', '::1']) {
        const result = probe.run({ deviceId: 1, address }, AbortSignal.timeout(5_000));
        await Promise.resolve();
        await blockEventLoop(TIMEOUT_MS + 300);
        expect(await result, address).toMatchObject({ outcome: 'up', reason: 'ok' });
      }
    } finally {
      await probe.close();
    }
  });
});
