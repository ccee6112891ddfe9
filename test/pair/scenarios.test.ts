/**
 * Table-driven failover scenarios against the simulator's real processes, in the spirit of MongoDB's SDAM
 * spec tests: a fault, then the exact list of pair events expected after it, then the oracle's verdict.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Fault } from '../../lib/sim/index.js';
import type { SwitchoverEvent, GapEvent, EventServerDisconnected } from '../../lib/pair/events.js';
import { rig, sleep, until, type Rig } from './harness.js';
import { transportsUnderTest } from './transports.js';

interface Scenario {
  name: string;
  mode: 'hot' | 'warm';
  fault: Fault;
  /** A fault applied after `expect` was met (recovery), and events that must follow, in this order (others may interleave). */
  then?: { fault: Fault; expect: string[]; waitMs?: number }[];
  /** Exact pair events (not `event`) after the fault, as `type:endpoint`. */
  expect: string[];
  /** Checks on the typed payloads. */
  switchover?: Partial<Pick<SwitchoverEvent, 'reason' | 'from' | 'to'>>;
  /** Events that may or may not appear, depending on which server's report arrives first; ignored. */
  optional?: string[];
  disconnectReason?: EventServerDisconnected['reason'];
  /** `exact`: zero lost and zero duplicated; `gap`: every loss inside a reported gap, zero duplicated. */
  oracle: 'exact' | 'gap';
}

const scenarios: Scenario[] = [
  {
    name: 'hot: primary killed',
    mode: 'hot',
    fault: { kind: 'kill', server: 'primary' },
    expect: ['EventServerDisconnected:primary', 'active:null', 'switchover:backup', 'active:backup'],
    switchover: { reason: 'crash', from: 'primary', to: 'backup' },
    disconnectReason: 'peer-closed',
    oracle: 'exact',
  },
  {
    name: 'hot: primary hung (SIGSTOP), found by ADDP',
    mode: 'hot',
    fault: { kind: 'stop', server: 'primary' },
    expect: ['EventServerDisconnected:primary', 'active:null', 'switchover:backup', 'active:backup'],
    switchover: { reason: 'heartbeat-timeout', from: 'primary', to: 'backup' },
    disconnectReason: 'addp-timeout',
    then: [{ fault: { kind: 'cont', server: 'A' }, expect: ['EventServerConnected:primary', 'EventLinkConnected:primary'] }],
    oracle: 'exact',
  },
  {
    name: 'hot: CTI link of the primary down',
    mode: 'hot',
    fault: { kind: 'link-down', server: 'primary' },
    // Delivery moves to the backup (its link is up); requests wait: nobody promotes it, the primary returns.
    expect: ['EventLinkDisconnected:primary', 'active:null'],
    then: [{ fault: { kind: 'link-up', server: 'A' }, expect: ['EventLinkConnected:primary', 'active:primary'] }],
    oracle: 'exact',
  },
  {
    name: 'hot: manual switchover by the management layer',
    mode: 'hot',
    fault: { kind: 'switchover' },
    expect: ['switchover:backup', 'active:backup'],
    optional: ['active:null'],
    switchover: { reason: 'role-change', from: 'primary', to: 'backup' },
    oracle: 'exact',
  },
  {
    name: 'hot: backup killed',
    mode: 'hot',
    fault: { kind: 'kill', server: 'backup' },
    expect: ['EventServerDisconnected:backup'],
    oracle: 'exact',
  },
  {
    name: 'hot: split brain',
    mode: 'hot',
    fault: { kind: 'split-brain' },
    expect: ['splitBrain'],
    oracle: 'exact',
  },
  {
    name: 'hot: primary sends a malformed frame',
    mode: 'hot',
    fault: { kind: 'malformed', server: 'primary', variant: 'bad-kind' },
    // The primary is still primary: after the reconnect requests go back to it (no switchover).
    expect: ['EventServerDisconnected:primary', 'active:null', 'EventServerConnected:primary', 'EventLinkConnected:primary', 'active:primary'],
    disconnectReason: 'protocol-error',
    oracle: 'exact',
  },
  {
    name: 'hot: backup dead, then the primary\'s CTI link flaps: the hole is reported as a gap',
    mode: 'hot',
    fault: { kind: 'kill', server: 'backup' },
    expect: ['EventServerDisconnected:backup'],
    then: [
      { fault: { kind: 'link-down', server: 'A' }, expect: ['EventLinkDisconnected:primary', 'active:null'], waitMs: 100 },
      { fault: { kind: 'link-up', server: 'A' }, expect: ['EventLinkConnected:primary', 'gap:primary', 'active:primary'], waitMs: 300 },
    ],
    oracle: 'gap',
  },
  {
    name: 'warm: primary killed',
    mode: 'warm',
    fault: { kind: 'kill', server: 'primary' },
    expect: ['EventServerDisconnected:primary', 'active:null', 'EventServerConnected:backup', 'EventLinkConnected:backup', 'gap:backup', 'switchover:backup', 'active:backup'],
    switchover: { reason: 'crash', from: 'primary', to: 'backup' },
    oracle: 'gap',
  },
];

let r: Rig | undefined;
afterEach(async () => {
  await r?.stop();
  r = undefined;
});

function isSubsequence(want: string[], got: string[]): boolean {
  let i = 0;
  for (const g of got) if (g === want[i]) i++;
  return i === want.length;
}

const settle = (names: string[], got: () => string[]) => until(() => got().length >= names.length, 15_000, names.join(', '));

describe.each(transportsUnderTest())('failover scenarios (%s transport)', (transport) => {
  it.each(scenarios.map((s) => [s.name, s] as const))('%s', async (_name, sc) => {
    r = await rig(
      { mode: sc.mode, rate: 3000, promotionDelayMs: 200, hangTimeoutMs: 1000 },
      // A short breaker re-probe: a server that comes back (SIGCONT) is retried within the test's patience.
      { transport, addp: { timeoutMs: 150 }, splitBrainGraceMs: 200, warmBackupWaitMs: 500, breaker: { resetTimeoutMs: 1000 } },
    );
    const rr = r;
    await rr.pair.open().catch((err) => {
      throw new Error(`open failed: ${err}; state ${JSON.stringify(rr.pair.state)} timeline ${rr.timeline().join(' ')}`);
    });
    // Steady state first: both servers (hot) up with their CTI links reported, the primary active.
    await until(() => {
      const st = rr.pair.state;
      const up = (e: typeof st.endpoints.primary) => e.server === 'open' && e.link === 'up';
      return st.active === 'primary' && up(st.endpoints.primary) && (sc.mode === 'warm' || up(st.endpoints.backup));
    }, 10_000, () => `steady state; state ${JSON.stringify(rr.pair.state)} timeline ${rr.timeline().join(' ')}`);
    await until(() => rr.seqs.length > 100, 10_000, 'traffic');
    // Compare from here on: every DN registration took effect before these events.
    const firstSeq = rr.seqs[rr.seqs.length - 1]!;
    const mark = rr.log.length;
    const after = () => rr.timeline().slice(mark).filter((x) => !sc.optional?.includes(x));
    if (process.env.DEBUG_TIMELINE) console.log(sc.name, "before", rr.timeline());
    await rr.sim.fault(sc.fault);
    await settle(sc.expect, after);
    await sleep(300); // anything unexpected has time to show up
    if (!sc.then) expect(after()).toEqual(sc.expect);
    else expect(after().slice(0, sc.expect.length)).toEqual(sc.expect);
    const sw = rr.log.slice(mark).find((e) => e.type === 'switchover')?.data as SwitchoverEvent | undefined;
    if (sc.switchover) expect(sw).toMatchObject(sc.switchover);
    if (sc.disconnectReason) {
      const d = rr.log.slice(mark).find((e) => e.type === 'EventServerDisconnected')!.data as EventServerDisconnected;
      expect(d.reason).toBe(sc.disconnectReason);
    }
    for (const step of sc.then ?? []) {
      if (step.waitMs) await sleep(step.waitMs);
      const mark2 = rr.log.length;
      await rr.sim.fault(step.fault);
      await until(() => isSubsequence(step.expect, rr.timeline().slice(mark2)), 15_000, step.expect.join(', '));
    }
    // Let traffic flow after the fault, then stop it and compare with the switch's own log.
    const n = rr.seqs.length;
    await until(() => rr.seqs.length > n + 100, 10_000, 'traffic after the fault');
    await rr.sim.setRate(0);
    await sleep(300);
    const cmp = rr.check({ afterSeq: firstSeq, upToSeq: rr.seqs[rr.seqs.length - 1]! });
    if (process.env.DEBUG_TIMELINE && (cmp.lost.length || cmp.duplicated.length)) console.log("LOST", cmp.lost.slice(0, 5), cmp.lost.length, "DUP", cmp.duplicated.length, JSON.stringify(rr.log.filter((e) => e.type === "switchover" || e.type === "gap").map((e) => e.data)), "cti", JSON.stringify(rr.sim.ctiRuns("A")), JSON.stringify(rr.sim.ctiRuns("B")));
    expect(cmp.duplicated).toEqual([]);
    const gaps = rr.log.filter((e) => e.type === 'gap').map((e) => e.data as GapEvent);
    if (sc.oracle === 'exact') {
      expect(cmp.lost).toEqual([]);
      expect(gaps).toEqual([]);
    } else {
      const outside = cmp.lost.filter((s) => !gaps.some((g) => s >= g.fromSeq && s <= g.toSeq));
      if (outside.length && process.env.DEBUG_TIMELINE) console.log("gaps", gaps, "lost", cmp.lost.length, "outside", outside, "cti", JSON.stringify(rr.sim.ctiRuns("A")), JSON.stringify(rr.sim.ctiRuns("B")), rr.timeline());
      expect(outside).toEqual([]);
      expect(gaps.length).toBeGreaterThan(0);
    }
    expect(rr.pair.state.queuedRequests).toBe(0);
  });
});
