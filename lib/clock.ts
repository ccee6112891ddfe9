/**
 * Monotonic milliseconds on the same clock as the addon's `uv_hrtime()` (CLOCK_MONOTONIC), so native and
 * JS timestamps of one run can be subtracted from each other.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
