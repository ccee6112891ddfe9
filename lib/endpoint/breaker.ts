import CircuitBreaker from 'opossum';
import type { ResolvedPairOptions } from '../config.js';

/**
 * One opossum breaker per endpoint, guarding connection attempts. Two changes from opossum's defaults, from
 * peer lessons: volumeThreshold > 0 (a single failure must not trip it), and a jittered re-probe delay
 * (a fixed resetTimeout makes every client of a recovering server probe it at the same instant).
 */
export function createBreaker<T>(action: () => Promise<T>, opts: Exclude<ResolvedPairOptions['breaker'], false>, name: string): CircuitBreaker<[], T> {
  const jittered = () => Math.round(opts.resetTimeoutMs * (0.5 + Math.random()));
  const breaker = new CircuitBreaker(action, {
    name,
    timeout: false, // attempts carry their own connect and handshake deadlines
    errorThresholdPercentage: opts.errorThresholdPercentage,
    volumeThreshold: opts.volumeThreshold,
    resetTimeout: jittered(),
    rollingCountTimeout: opts.rollingWindowMs,
    rollingCountBuckets: 10,
  });
  // opossum reads options.resetTimeout when its reset timer starts (on 'open', before this listener
  // runs), so re-drawing here jitters the next opening.
  breaker.on('open', () => {
    (breaker as unknown as { options: { resetTimeout: number } }).options.resetTimeout = jittered();
  });
  return breaker;
}
