/**
 * Every diagnostics channel this package publishes on, in one table (as undici's `core/diagnostics.js`):
 * subscribe with `diagnostics_channel.subscribe(name, fn)` or `channel(name)`. Publishers check
 * `hasSubscribers` first, so an unobserved channel costs nothing. docs/semantics.md, "Observability",
 * documents each message.
 */
import diagnostics from 'node:diagnostics_channel';

/** Channel names. */
export const CHANNELS = {
  /** Every failed connection attempt: `{ pair, endpoint, attempt, error }` (the `connectFailed` event is sampled). */
  attemptFailed: 'tserver-ha:attempt-failed',
  /** A server connection opened or ended: `{ pair, endpoint, connected, at, reason? }`. */
  server: 'tserver-ha:server',
  /** A switchover: the `switchover` event's payload. */
  switchover: 'tserver-ha:switchover',
  /** A gap: `{ pair, source, reason, fromSeq, toSeq, epoch }`. */
  gap: 'tserver-ha:gap',
  /** A TracingChannel around every `pair.request()` (start, end, asyncStart, asyncEnd, error). */
  request: 'tserver-ha:request',
} as const;

export const attemptChannel = diagnostics.channel(CHANNELS.attemptFailed);
export const serverChannel = diagnostics.channel(CHANNELS.server);
export const switchoverChannel = diagnostics.channel(CHANNELS.switchover);
export const gapChannel = diagnostics.channel(CHANNELS.gap);
