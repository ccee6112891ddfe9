import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/package/ packs and installs the package (npm run test:package, vitest.package.config.ts): it
    // rebuilds dist/ and must not run beside tests that read it.
    exclude: ['test/package/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real processes and sockets: files run in separate processes, two at a time on these 2-core machines.
    pool: 'forks',
    maxWorkers: 2,
  },
});
