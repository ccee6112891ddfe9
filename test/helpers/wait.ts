/**
 * Waiting on a condition instead of on the clock: tests that talk to real processes wait for what they
 * need to see, bounded by a generous deadline that only matters when the behaviour is broken (a slow or
 * oversubscribed machine just takes longer to get there).
 */

/** Resolve after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Resolve once `cond()` (sync or async) is true, checked every `everyMs`; reject after `timeoutMs` with
 * `what` (a string, or a function giving the current state for the message).
 */
export async function until(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string | (() => string),
  everyMs = 20,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms: ${typeof what === 'function' ? what() : what}`);
    await sleep(everyMs);
  }
}
