import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['spec/**/*.spec.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites share one redis-server and bind loopback ports; files still run in parallel workers.
    pool: 'forks',
    reporters: ['default'],
  },
});
