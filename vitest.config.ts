import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests each start their own redis-server and servers on free ports, so files can run in parallel.
    pool: 'forks',
    maxWorkers: 2,
  },
});
