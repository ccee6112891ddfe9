import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real processes and sockets: files run in separate processes, two at a time on these 2-core machines.
    pool: 'forks',
    maxWorkers: 2,
  },
});
