/**
 * The virtual clock and the seeded randomness of the decision-core simulation. Installed process-wide:
 * every timer of the client (ours, p-retry's, opossum's), `Date`, `performance.now()` and
 * `process.hrtime` run on it, and `Math.random` draws from the seed — so one seed is one exact history.
 * Only for a process that runs nothing else (`npm run check:sim`, or a test file of its own).
 */
import * as FakeTimers from '@sinonjs/fake-timers';

type InstalledClock = ReturnType<typeof FakeTimers.install>;

/** The bench's seeded PRNG (mulberry32, uniform in [0, 1)): one implementation for every seeded choice. */
export { rng as prng } from '../../lib/cli/bench/wait.js';
import { rng as prng } from '../../lib/cli/bench/wait.js';

export interface VirtualTime {
  clock: InstalledClock;
  /** Advance virtual time by `ms`, running every timer due and the microtasks between them. */
  advance(ms: number): Promise<void>;
  /** Give back the real timers and Math.random. */
  uninstall(): void;
}

const realRandom = Math.random;

/** Install the virtual clock (starting at a fixed epoch) and seed Math.random. */
export function installVirtualTime(seed: number): VirtualTime {
  const clock = FakeTimers.install({
    now: 1_800_000_000_000,
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'Date', 'hrtime', 'performance'],
    shouldClearNativeTimers: true,
  });
  Math.random = prng(seed ^ 0x9e3779b9);
  return {
    clock,
    advance: async (ms) => {
      await clock.tickAsync(ms);
    },
    uninstall: () => {
      clock.uninstall();
      Math.random = realRandom;
    },
  };
}
