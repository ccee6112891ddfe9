/**
 * Warm standby's probe phase (lib/pair/supervisor.ts): right after a loss the pair tries only the other
 * server, at most one attempt at a time, for `retry.probeMs`; then the normal schedule alternates between
 * both. Checked by counting failed attempts per endpoint (the `tserver-ha:attempt-failed` channel) against
 * a backup that is never promoted. Bounds are on counts and order, never on speed.
 */
import diagnostics from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { TServerPair } from '../../lib/pair/pair.js';
import { resolvePairOptions } from '../../lib/config.js';
import { startSimulation, type Simulation } from '../../lib/sim/index.js';

let sim: Simulation | undefined;
let pair: TServerPair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
  await sim?.stop();
  sim = undefined;
});

const until = async (pred: () => boolean, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('warm standby probe phase', { timeout: 60_000 }, () => {
  it('validates and defaults its options', () => {
    const o = resolvePairOptions({ name: 'P', primary: { host: 'a', port: 1 }, backup: { host: 'b', port: 2 } });
    expect(o.retry.probeMs).toBe(2000);
    expect(o.retry.probeIntervalMs).toBe(5);
    expect(() => resolvePairOptions({ name: 'P', primary: { host: 'a', port: 1 }, backup: { host: 'b', port: 2 }, retry: { probeIntervalMs: 0 } })).toThrow(/retry.probeIntervalMs/);
  });

  it('after a loss tries only the other server, sequentially and bounded, then alternates', async () => {
    // Nobody promotes the backup: a warm backup refuses clients, so every attempt at it fails.
    sim = await startSimulation({ mode: 'warm', autoPromote: false });
    const s = sim;
    const probeMs = 400;
    const probeIntervalMs = 10;
    const attempts: { endpoint: string; at: number }[] = [];
    const onAttempt = (m: unknown) => {
      const a = m as { pair: string; endpoint: string };
      if (a.pair === 'Probe') attempts.push({ endpoint: a.endpoint, at: Date.now() });
    };
    diagnostics.subscribe('tserver-ha:attempt-failed', onAttempt);
    try {
      pair = new TServerPair({
        name: 'Probe',
        mode: 'warm',
        primary: { host: s.primary.host, port: s.primary.port },
        backup: { host: s.backup.host, port: s.backup.port },
        transport: 'node',
        retry: { probeMs, probeIntervalMs },
      });
      pair.on('error', () => {});
      await pair.open();
      const lossAt = Date.now();
      await s.fault({ kind: 'kill', server: 'primary' });
      // Past the window, the normal schedule tries the dead primary too.
      await until(() => attempts.some((a) => a.endpoint === 'primary'), 20_000, 'an attempt at the old primary');
      const firstPrimary = attempts.findIndex((a) => a.endpoint === 'primary');
      const probes = attempts.slice(0, firstPrimary);
      expect(probes.length).toBeGreaterThan(1);
      expect(probes.every((a) => a.endpoint === 'backup')).toBe(true);
      // Bounded: one attempt per interval at most (p-retry waits interval × 1..2 between attempts).
      expect(probes.length).toBeLessThanOrEqual(Math.ceil(probeMs / probeIntervalMs) + 2);
      // The old primary is tried only once the probe window has passed.
      expect(attempts[firstPrimary]!.at - lossAt).toBeGreaterThanOrEqual(probeMs - 50);
    } finally {
      diagnostics.unsubscribe('tserver-ha:attempt-failed', onAttempt);
    }
  });
});
