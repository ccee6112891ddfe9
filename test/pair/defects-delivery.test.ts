/**
 * Regression tests for the delivery defects of the outside review (each fails on the code before the
 * fixes, 18d8df4): a server that restarts its numbering, and delivery that moves to a server whose CTI
 * link is down. Real simulator processes; every loss is checked against the switch's own log.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulation, type Simulation, type SimulationOptions } from '../../lib/sim/index.js';
import { TServerPair } from '../../lib/pair/pair.js';
import type { TServerPairOptions } from '../../lib/config.js';
import { checkDelivery, eventually, lastDelivered, Recorder } from './defects-helpers.js';
import { sleep, until } from './harness.js';
import { transportsUnderTest } from './transports.js';

interface Setup {
  sim: Simulation;
  pair: TServerPair;
  rec: Recorder;
  dns: string[];
}

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  cleanups = [];
});

async function setup(simOpts: SimulationOptions, pairOpts: Partial<TServerPairOptions>): Promise<Setup> {
  const sim = await startSimulation(simOpts);
  cleanups.push(() => sim.stop());
  const dns = [...sim.routePoints, ...sim.agents];
  const pair = new TServerPair({
    name: 'Defects',
    primary: { host: sim.primary.host, port: sim.primary.port },
    backup: { host: sim.backup.host, port: sim.backup.port },
    mode: simOpts.mode ?? 'hot',
    dns,
    addp: { timeoutMs: 200 },
    retry: { minDelayMs: 50, maxDelayMs: 500 },
    breaker: { resetTimeoutMs: 500 },
    warmBackupWaitMs: 500,
    ...pairOpts,
  });
  pair.on('error', () => {});
  cleanups.push(() => pair.close());
  const rec = new Recorder(pair);
  await pair.open();
  const hot = simOpts.mode !== 'warm';
  await until(() => {
    const st = pair.state;
    const up = (e: typeof st.endpoints.primary) => e.server === 'open' && e.link === 'up';
    return st.active === 'primary' && up(st.endpoints.primary) && (!hot || up(st.endpoints.backup));
  }, 15_000, () => `steady state: ${JSON.stringify(pair.state)}`);
  return { sim, pair, rec, dns };
}

/** Let the pair deliver the events already emitted: until it delivered the switch's last seq. */
async function drained(s: Setup, what: string): Promise<number> {
  const last = (await s.sim.emit(0)).seq;
  await until(() => lastDelivered(s.sim, s.rec) >= last, 15_000, () => `${what}: delivered up to ${lastDelivered(s.sim, s.rec)} of ${last}; ${s.rec.timeline()}`);
  return last;
}

/** Stop traffic, wait for its tail, and check (after, end] against the oracle. */
async function finalCheck(s: Setup, after: number): Promise<ReturnType<typeof checkDelivery>> {
  await s.sim.setRate(0);
  const end = await drained(s, 'tail after stopping traffic');
  return checkDelivery(s.sim, s.rec, s.dns, after, end);
}

describe.each(transportsUnderTest())('defect: a server restart resets EventSequenceNumber (%s transport)', (transport) => {
  it('warm: the primary comes back numbering from 1; its new events are delivered, a sequence-reset gap is reported, nothing twice', async () => {
    const s = await setup({ mode: 'warm', autoPromote: false, rate: 500 }, { transport });
    await until(() => s.rec.eventsFrom(0) > 50, 10_000, 'traffic');
    // Push the switch far ahead: numbers of the new numbering stay below the old ones for the whole test,
    // so a pair that compares across numberings drops every new event as a duplicate.
    await s.sim.emit(20_000);
    const after = await drained(s, 'before the restart');
    const mark = s.rec.log.length;
    await s.sim.fault({ kind: 'restart', server: 'A', resetSeq: true });
    await until(() => s.rec.indexOf('EventServerConnected', mark, 'primary') >= 0, 30_000, () => `reconnect to the restarted primary; ${s.rec.timeline(mark)}`);
    const reconnected = s.rec.indexOf('EventServerConnected', mark, 'primary');
    const live = await eventually(() => s.rec.eventsFrom(reconnected) >= 100, 15_000);
    expect(live, `events delivered after the restarted primary reconnected: ${s.rec.eventsFrom(reconnected)} (want 100); ${s.rec.timeline(mark)}`).toBe(true);
    expect(s.rec.gaps.filter((g) => g.reason === 'sequence-reset').length, s.rec.timeline(mark)).toBeGreaterThan(0);
    const c = await finalCheck(s, after);
    expect(c.duplicated).toEqual([]);
    expect(c.outOfOrder).toEqual([]);
    expect(c.uncovered, `${c.lost} lost of ${c.expected}; ${s.rec.timeline(mark)}`).toEqual([]);
    expect(c.delivered).toBeGreaterThan(100);
  }, 120_000);

  it('hot: the backup restarts with a fresh numbering, then the primary dies: delivery moves to it in its numbering, losses only inside gaps, nothing twice', async () => {
    const s = await setup({ mode: 'hot', rate: 500, promotionDelayMs: 200 }, { transport });
    await until(() => s.rec.eventsFrom(0) > 50, 10_000, 'traffic');
    await s.sim.emit(20_000);
    const after = await drained(s, 'before the restart');
    const mark = s.rec.log.length;
    await s.sim.fault({ kind: 'restart', server: 'B', resetSeq: true });
    await until(() => {
      const b = s.pair.state.endpoints.backup;
      return s.rec.indexOf('EventServerConnected', mark, 'backup') >= 0 && b.server === 'open' && b.link === 'up';
    }, 30_000, () => `the restarted backup open again; ${JSON.stringify(s.pair.state)} ${s.rec.timeline(mark)}`);
    await sleep(300); // its window fills with events in its new numbering
    const killed = s.rec.log.length;
    await s.sim.fault({ kind: 'kill', server: 'A' });
    const fromBackup = () => s.rec.log.slice(killed).filter((r) => r.kind === 'event' && r.source === 'backup' && r.seq >= 0).length;
    const live = await eventually(() => fromBackup() >= 100, 15_000);
    expect(live, `events delivered from the restarted backup after the primary died: ${fromBackup()} (want 100); ${s.rec.timeline(mark)}`).toBe(true);
    const c = await finalCheck(s, after);
    expect(c.duplicated).toEqual([]);
    expect(c.outOfOrder).toEqual([]);
    expect(c.uncovered, `${c.lost} lost of ${c.expected}; ${s.rec.timeline(mark)}`).toEqual([]);
  }, 120_000);
});

describe.each(transportsUnderTest())('defect: delivery moves to a server whose CTI link is down (%s transport)', (transport) => {
  it('hot: backup link down, primary killed (no promotion yet), backup link up: every event delivered once or inside a gap reported before any later event', async () => {
    const s = await setup({ mode: 'hot', rate: 1000, promotionDelayMs: 5000 }, { transport });
    await until(() => s.rec.eventsFrom(0) > 50, 10_000, 'traffic');
    const after = await drained(s, 'before the fault');
    const mark = s.rec.log.length;
    await s.sim.fault({ kind: 'link-down', server: 'B' });
    await until(() => s.pair.state.endpoints.backup.link === 'down', 10_000, 'backup link reported down');
    await sleep(200);
    await s.sim.fault({ kind: 'kill', server: 'A' });
    await until(() => s.pair.state.source === 'backup', 10_000, () => `delivery moved to the backup; ${JSON.stringify(s.pair.state)}`);
    await sleep(500); // the switch goes on; nobody linked to it receives these
    const linkUp = s.rec.log.length;
    await s.sim.fault({ kind: 'link-up', server: 'B' });
    await until(() => s.pair.state.endpoints.backup.link === 'up', 10_000, 'backup link reported up');
    await until(() => s.rec.eventsFrom(linkUp) >= 100, 15_000, 'events after the link came back');
    const c = await finalCheck(s, after);
    expect(c.duplicated).toEqual([]);
    expect(c.outOfOrder).toEqual([]);
    expect(c.uncovered.length, `${c.uncovered.length} of ${c.lost} lost events outside any gap reported before later events (first ${c.uncovered.slice(0, 5).join(',')}); ${s.rec.timeline(mark)}`).toBe(0);
  }, 120_000);

  it('warm: backup link down, primary killed (backup promoted), the pair reconnects to the backup with its link down, link up: every event delivered once or inside an earlier gap', async () => {
    const s = await setup({ mode: 'warm', rate: 1000, promotionDelayMs: 200 }, { transport });
    await until(() => s.rec.eventsFrom(0) > 50, 10_000, 'traffic');
    const after = await drained(s, 'before the fault');
    const mark = s.rec.log.length;
    await s.sim.fault({ kind: 'link-down', server: 'B' });
    await sleep(200);
    await s.sim.fault({ kind: 'kill', server: 'A' });
    await until(() => {
      const b = s.pair.state.endpoints.backup;
      return s.rec.indexOf('EventServerConnected', mark, 'backup') >= 0 && b.server === 'open' && b.link === 'down';
    }, 20_000, () => `reconnected to the backup with its link down; ${JSON.stringify(s.pair.state)} ${s.rec.timeline(mark)}`);
    await sleep(500);
    const linkUp = s.rec.log.length;
    await s.sim.fault({ kind: 'link-up', server: 'B' });
    await until(() => s.pair.state.endpoints.backup.link === 'up', 10_000, 'backup link reported up');
    await until(() => s.rec.eventsFrom(linkUp) >= 100, 15_000, 'events after the link came back');
    const c = await finalCheck(s, after);
    expect(c.duplicated).toEqual([]);
    expect(c.outOfOrder).toEqual([]);
    expect(c.uncovered.length, `${c.uncovered.length} of ${c.lost} lost events outside any gap reported before later events (first ${c.uncovered.slice(0, 5).join(',')}); ${s.rec.timeline(mark)}`).toBe(0);
  }, 120_000);
});
