import { defineConfig } from 'vitest/config';

import { scaled, slowness } from './test/helpers/slowness.mjs';

// Measured once per run, here, and inherited through the environment by the workers and every
// process they start: on a slow host (an emulated kernel) every safety limit grows by this factor.
const factor = slowness();
if (factor > 1) console.log(`nmcap tests: this host is ${factor}x slower than the reference (node start); time limits scaled`);

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native addons and child processes: forks, never worker threads.
    pool: 'forks',
    testTimeout: scaled(60_000),
    hookTimeout: scaled(60_000),
    teardownTimeout: scaled(10_000),
  },
});
