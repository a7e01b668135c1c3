import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['spec/**/*.spec.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // expect.poll's own default is 1 s: too short for a socket round trip or a redraw on a loaded
    // 2-core CI machine. A poll that means a deadline passes its own timeout.
    expect: { poll: { timeout: 10_000 } },
    // Suites share one redis-server and bind loopback ports; files still run in parallel workers.
    pool: 'forks',
    reporters: ['default'],
  },
});
