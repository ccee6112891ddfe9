/**
 * Whole-client regressions for losses and a repeat that `check:sim` with in-place renumbering found (seeds 777
 * and 20261207), each fixed where its rule lives; every schedule here broke an invariant on the code before its fix.
 */
import { describe, expect, it } from 'vitest';
import { runSchedule } from '../../check/dst/run.js';
import { describe as describeSchedule, type Schedule } from '../../check/dst/schedule.js';

const base = { seed: 0, mode: 'hot', rate: 1, promotionDelayMs: 0, autoPromote: true, addpMs: 60, netDelayMs: 2, windowFrames: 2, requestTimeoutMs: 20, splitBrainGraceMs: 0, breaker: false, coarseTime: false } as const;

const cases: [string, Schedule][] = [
  [
    // core/admit.ts `renumbered`: the move's skip (the backup's evictions, old numbering) was applied to
    // the new numbering after the held events revealed the restart — its events up to 359 were dropped.
    'a hot backup renumbered while delivery moved to it (manual switchover)',
    { params: { ...base, autoPromote: false }, cmds: [
      { t: 'request', timeoutMs: 1, idempotent: false, abortAfterMs: null, burst: 1 }, { t: 'wait', ms: 206 }, { t: 'wait', ms: 657 },
      { t: 'renumber', s: 'B' }, { t: 'manualEvery', n: 2, everyMs: 100 },
    ] },
  ],
  [
    // endpoint.ts `spill`: a link-down report moved delivery away in the middle of a read; the events after
    // it in the same read were out of the transport (its window holds only what it reads next) and were
    // dropped — lost for good once the move's target died and delivery came back.
    'events read together with the report that moved delivery away',
    { params: base, cmds: [{ t: 'wait', ms: 1833 }, { t: 'link', s: 'A', up: false }, { t: 'link', s: 'A', up: true }, { t: 'restart', s: 'B', reset: false }] },
  ],
  [
    // core/step.ts `released`: a window whose numbering went back is not delivered, and the events after it
    // were taken as new without the switch clock's fence — one in flight when delivery moved (stamped
    // before our last event) was delivered a second time.
    'a hot backup renumbered long before delivery moves to it: the event in flight is not repeated',
    { params: { ...base, windowFrames: 100_000, netDelayMs: 0 }, cmds: [
      { t: 'wait', ms: 1111 }, { t: 'renumber', s: 'B' }, { t: 'emit', n: 1 }, { t: 'wait', ms: 50 }, { t: 'wait', ms: 1062 }, { t: 'link', s: 'A', up: false },
    ] },
  ],
  [
    // core/admit.ts `restartedInSession`: delivery moved to the backup, whose window held only its old
    // numbering; the restart was seen on the first live event after it, which was also the last event the
    // old source had delivered (in flight on both): delivered twice. Now the switch clock fences it.
    'a hot backup renumbered just before the source is lost, seen only after the move',
    { params: { ...base, netDelayMs: 1 }, cmds: [
      { t: 'register', dn: '9000' }, { t: 'wait', ms: 1860 }, { t: 'renumber', s: 'B' },
      { t: 'request', timeoutMs: 1, idempotent: false, abortAfterMs: null, burst: 1 }, { t: 'request', timeoutMs: 1, idempotent: false, abortAfterMs: null, burst: 1 },
      { t: 'resolveSplit' }, { t: 'restart', s: 'A', reset: false },
    ] },
  ],
  [
    // endpoint.ts numberingWentBackIn: the backup renumbered after its DN registrations; the window's first
    // new event (evicted since) was numbered below every registration position, which proves it — its
    // survivors alone did not. Delivered under the old label before (seed 99).
    'a hot backup renumbered after its registrations, the revealing event evicted from its window',
    { params: base, cmds: [{ t: 'emit', n: 1 }, { t: 'emit', n: 1 }, { t: 'resume', s: 'A' }, { t: 'renumber', s: 'B' }, { t: 'wait', ms: 50 }, { t: 'kill', s: 'A' }] },
  ],
];

describe('decision-core simulation: losses found with in-place renumbering', () => {
  it.each(cases)('%s: every invariant holds', async (_name, s) => {
    const r = await runSchedule(s);
    expect(r.unjudged, 'the history must be judged').toBe(false);
    expect(r.violation, describeSchedule(s)).toBeNull();
  });
});
