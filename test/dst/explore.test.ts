/**
 * The decision-core simulation inside the test suite: a fixed-seed exploration (the same histories every
 * run) and the shrunk schedules that found each of the nine review defects when they were put back
 * (`npm run check:sim:mutants`) — each must now hold every invariant. `npm run check:sim` explores further.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runSchedule } from '../../check/dst/run.js';
import { describe as describeSchedule, scheduleArb, type Schedule } from '../../check/dst/schedule.js';

const base = { seed: 0, mode: 'hot', rate: 1, promotionDelayMs: 0, autoPromote: true, addpMs: 60, netDelayMs: 0, windowFrames: 100_000, requestTimeoutMs: 20, splitBrainGraceMs: 0, breaker: false, coarseTime: false } as const;

/** What check:sim:mutants printed for each defect (defect → shrunk schedule). */
const found: [string, Schedule][] = [
  ['1 sequence reset', { params: { ...base, seed: 220398933, autoPromote: false, netDelayMs: 2 }, cmds: [{ t: 'wait', ms: 5 }, { t: 'manual' }, { t: 'restart', s: 'A', reset: true }, { t: 'splitBrain' }] }],
  ['2 link down', { params: { ...base, autoPromote: false, windowFrames: 2 }, cmds: [{ t: 'emit', n: 1 }, { t: 'resume', s: 'A' }, { t: 'link', s: 'A', up: false }, { t: 'dupReplies', s: 'A', on: false }, { t: 'manual' }] }],
  ['3 late reply', { params: base, cmds: [{ t: 'latency', s: 'B', ms: 50 }, { t: 'kill', s: 'A' }, { t: 'register', dn: '9000' }] }],
  ['4 settled stay queued', { params: { ...base, rate: 0 }, cmds: [{ t: 'manual' }, { t: 'request', timeoutMs: 1, idempotent: false, abortAfterMs: null, burst: 1 }] }],
  ['5 resend order', { params: { ...base, rate: 0, autoPromote: false, netDelayMs: 1, windowFrames: 2 }, cmds: [{ t: 'wait', ms: 1 }, { t: 'request', timeoutMs: 4, idempotent: true, abortAfterMs: null, burst: 2 }, { t: 'restart', s: 'A', reset: false }, { t: 'splitBrain' }] }],
  ['6 registration deadline', { params: { ...base, rate: 0, netDelayMs: 1 }, cmds: [{ t: 'switchover' }, { t: 'unregister', dn: '9000' }, { t: 'hang', s: 'B' }, { t: 'wait', ms: 20 }] }],
  ['7 throwing listener', { params: { ...base, rate: 0 }, cmds: [{ t: 'throwing', on: true }] }],
  ['8 deadline overflow', { params: { ...base, rate: 0 }, cmds: [{ t: 'request', timeoutMs: 2 ** 31, idempotent: false, abortAfterMs: null, burst: 1 }] }],
  ['9 handshake timeout', { params: { ...base, rate: 0, netDelayMs: 2 }, cmds: [{ t: 'latency', s: 'A', ms: 3000 }] }],
];

/**
 * A server whose numbering restarts in place (sessions stay open): `check:sim --renumber` found each of these
 * on the code before the fix — a live event after a window that held nothing new taken for a duplicate
 * (silent loss), a window whose numbering went back delivered under the old label, two servers' restarted
 * numberings given the same derived label.
 */
const renumbered: [string, Schedule][] = [
  ['a live event below the position of a window that held nothing new', { params: { ...base, rate: 0, netDelayMs: 2, autoPromote: true }, cmds: [{ t: 'emit', n: 1 }, { t: 'wait', ms: 50 }, { t: 'renumber', s: 'B' }, { t: 'manual' }] }],
  ['a window whose numbering went back', { params: { ...base, rate: 0, netDelayMs: 2 }, cmds: [{ t: 'wait', ms: 50 }, { t: 'emit', n: 3 }, { t: 'wait', ms: 50 }, { t: 'renumber', s: 'B' }, { t: 'emit', n: 5 }, { t: 'wait', ms: 50 }, { t: 'manual' }] }],
  ['both servers restart their numbering, each from its own point', { params: { ...base, rate: 1 }, cmds: [{ t: 'emit', n: 1 }, { t: 'renumber', s: 'A' }, { t: 'wait', ms: 50 }, { t: 'renumber', s: 'B' }, { t: 'manual' }] }],
];

/**
 * Timeliness: the shrunk schedules that found the two timeliness defects put back by check:sim:mutants
 * (14: the breaker counted an outage's refused attempts, so a restarted server waited for the re-probe;
 * 15: requests queued while no server could take them were not sent when one became active).
 */
const timely: [string, Schedule][] = [
  ['14 breaker counts outages', { params: { ...base, rate: 0, autoPromote: false, windowFrames: 2, breaker: true }, cmds: [{ t: 'kill', s: 'A' }, { t: 'wait', ms: 1990 }] }],
  ['15 queued not dispatched on active', { params: { ...base, rate: 0, netDelayMs: 1, windowFrames: 2 }, cmds: [] }],
];

describe('decision-core simulation', () => {
  it.each(timely)('timeliness defect %s: the schedule that found it holds every invariant', async (_name, s) => {
    const r = await runSchedule(s);
    expect(r.violation, describeSchedule(s)).toBeNull();
  });

  it.each(renumbered)('numbering restarted in place — %s: every invariant holds', async (_name, s) => {
    const r = await runSchedule(s);
    expect(r.violation, describeSchedule(s)).toBeNull();
  });

  it.each(found)('defect %s: the schedule that found it holds every invariant', async (_name, s) => {
    const r = await runSchedule(s);
    expect(r.violation, describeSchedule(s)).toBeNull();
  });

  it('a fixed-seed exploration of 1000 random schedules breaks no invariant', async () => {
    const out = await fc.check(fc.asyncProperty(scheduleArb(30, { renumber: true }), async (s) => (await runSchedule(s)).violation === null), { seed: 20261128, numRuns: 1000 });
    const s = out.counterexample?.[0] as Schedule | undefined;
    expect(out.failed, s ? `${describeSchedule(s)}\n${JSON.stringify((await runSchedule(s)).violation)}` : '').toBe(false);
  }, 300_000);
});
