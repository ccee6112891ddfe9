/**
 * The virtual clock and the seeded randomness of the decision-core simulation. Installed process-wide:
 * every timer of the client (ours, p-retry's, opossum's), `Date`, `performance.now()` and
 * `process.hrtime` run on it, and `Math.random` draws from the seed — so one seed is one exact history.
 * Only for a process that runs nothing else (`npm run check:sim`, or a test file of its own).
 */
import * as FakeTimers from '@sinonjs/fake-timers';

type InstalledClock = ReturnType<typeof FakeTimers.install>;

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
