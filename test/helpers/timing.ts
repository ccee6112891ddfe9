/**
 * Margins from measured scheduling delay. A few tests need a live peer to answer within a protocol
 * timeout (ADDP): on an oversubscribed machine a process can wait tens of milliseconds for a core, so a
 * fixed 100 ms timeout there is a benchmark of the scheduler, not a test of the transport. These helpers
 * measure how late this process's timers fire right now and scale such timeouts to it.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** The longest event-loop delay (ms) seen over `sampleMs`: how late a timer of this process fires now. */
export async function schedulingDelayMs(sampleMs = 300): Promise<number> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  await new Promise((r) => setTimeout(r, sampleMs));
  h.disable();
  // histogram values are in ns; the resolution itself is not a delay
  return Math.max(0, h.max / 1e6 - 10);
}

/**
 * A timeout a live peer on this machine is sure to meet: `baseMs`, or `factor` times the measured
 * scheduling delay when that is more (at most `capMs`). The tests keep their meaning (a live peer is
 * never declared dead, a dead one is found within the timeout) and only the margin grows with the load.
 */
export async function liveTimeoutMs(baseMs: number, { factor = 20, capMs = 5000 } = {}): Promise<number> {
  const delay = await schedulingDelayMs();
  return Math.min(capMs, Math.max(baseMs, Math.ceil(factor * delay)));
}
