import { defineConfig } from 'vitest/config';

// `npm run test:package`: the package as a consumer gets it (npm pack → install the tarball in a fresh
// project). Alone, one file at a time: packing rebuilds dist/ (prepack) and the installs are heavy.
export default defineConfig({
  test: {
    include: ['test/package/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
