/**
 * What an event says must agree with what the pair does (not only that nothing is lost). Real simulator,
 * both transports.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { endpointsOf } from '../../lib/cli/bench/observer.js';
import type { SplitBrainEvent, SwitchoverEvent } from '../../lib/pair/events.js';
import { rig, until, type Rig } from './harness.js';
import { transportsUnderTest } from './transports.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.stop();
  r = undefined;
});

describe.each(transportsUnderTest())('event claims (%s transport)', (transport) => {
  it('splitBrain names the server requests go to, after a management switchover left delivery on the old primary', async () => {
    r = await rig({ mode: 'hot', rate: 500, promotionDelayMs: 100 }, { transport, splitBrainGraceMs: 200 });
    const rr = r;
    await rr.pair.open();
    await until(() => rr.pair.state.endpoints.backup.server === 'open' && rr.pair.state.endpoints.backup.link === 'up', 15_000, 'backup connected');
    // The management layer moves the primary role to B; A is demoted but stays connected: delivery is
    // sticky on A's connection, requests follow the new primary.
    await rr.sim.fault({ kind: 'switchover' });
    await until(() => rr.pair.state.active === 'backup', 15_000, () => `requests to backup; ${rr.timeline().join(' ')}`);
    // Now A claims primary too.
    await rr.sim.fault({ kind: 'split-brain' });
    await until(() => rr.log.some((x) => x.type === 'splitBrain'), 15_000, () => `splitBrain; ${rr.timeline().join(' ')}`);
    const sb = rr.log.find((x) => x.type === 'splitBrain')!.data as SplitBrainEvent;
    const st = rr.pair.state;
    // Old code: { keeping: 'primary', ignoring: 'backup' } while every request went to backup.
    expect(sb.keeping).toBe(st.active);
    expect(sb.keeping).toBe('backup');
    expect(sb.ignoring).toBe('primary');
    expect(sb.eventsFrom).toBe(st.source);
  });

  it('switchover.announcedAt is when the last report the pair needed was read (a management switchover: both)', async () => {
    r = await rig({ mode: 'hot', rate: 500, promotionDelayMs: 100 }, { transport });
    const rr = r;
    await rr.pair.open();
    await until(() => rr.pair.state.endpoints.backup.server === 'open' && rr.pair.state.endpoints.backup.link === 'up', 15_000, 'backup connected');
    const eps = endpointsOf(rr.pair);
    const before = { primary: eps.primary.reportedAt, backup: eps.backup.reportedAt };
    let seen: { e: SwitchoverEvent; read: { primary: number; backup: number } } | undefined;
    rr.pair.once('switchover', (e) => (seen = { e, read: { primary: eps.primary.reportedAt, backup: eps.backup.reportedAt } }));
    // B is promoted, A steps down: requests can move only once both are read (until then both claim primary).
    await rr.sim.fault({ kind: 'switchover' });
    await until(() => seen !== undefined, 15_000, () => `switchover; ${rr.timeline().join(' ')}`);
    const { e, read } = seen!;
    expect(e.to).toBe('backup');
    // Both reports were read by then (each endpoint's stamp moved), and the event counts from the later one
    // (old code: from B's promotion, so the wait for A's step-down was reported as the client's overhead).
    expect(read.primary).toBeGreaterThan(before.primary);
    expect(read.backup).toBeGreaterThan(before.backup);
    expect(e.announcedAt).toBe(Math.max(read.primary, read.backup));
    expect(e.completedAt).toBeGreaterThanOrEqual(e.announcedAt);
  });
});
