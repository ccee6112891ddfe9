/**
 * Random fault schedules for the decision-core simulation, as fast-check arbitraries: a failure shrinks to
 * the shortest schedule that still breaks an invariant, and replays from its seed.
 */
import fc from 'fast-check';
import type { ServerName } from './world.js';

export interface Params {
  /** Seeds Math.random, the world's choices and p-retry's jitter. */
  seed: number;
  mode: 'hot' | 'warm';
  /** Switch events per 10 ms of virtual time. */
  rate: number;
  promotionDelayMs: number;
  autoPromote: boolean;
  addpMs: number;
  netDelayMs: number;
  /** Hot-standby window in frames (small ones make evictions happen). */
  windowFrames: number;
  requestTimeoutMs: number;
  splitBrainGraceMs: number;
  breaker: boolean;
  /** Millisecond time stamps (ties between events), as a real switch clock gives. */
  coarseTime: boolean;
}

export type Cmd =
  | { t: 'wait'; ms: number }
  | { t: 'emit'; n: number }
  | { t: 'kill'; s: ServerName }
  | { t: 'garbage'; s: ServerName }
  | { t: 'restart'; s: ServerName; reset: boolean }
  /** The numbering restarts in place (a wrap): sessions stay open and see the numbers go back. */
  | { t: 'renumber'; s: ServerName }
  | { t: 'hang'; s: ServerName }
  | { t: 'resume'; s: ServerName }
  | { t: 'silent'; s: ServerName; on: boolean }
  | { t: 'link'; s: ServerName; up: boolean }
  | { t: 'switchover' }
  | { t: 'splitBrain' }
  | { t: 'resolveSplit' }
  | { t: 'latency'; s: ServerName; ms: number }
  | { t: 'dupReplies'; s: ServerName; on: boolean }
  | { t: 'refuse'; s: ServerName; on: boolean }
  | { t: 'request'; timeoutMs: number; idempotent: boolean; abortAfterMs: number | null; burst: number }
  | { t: 'register'; dn: string }
  | { t: 'unregister'; dn: string }
  | { t: 'manual' }
  /** pair.switchover() `n` times, `everyMs` apart (an operator, or a test, moving the stream repeatedly). */
  | { t: 'manualEvery'; n: number; everyMs: number }
  | { t: 'throwing'; on: boolean }
  | { t: 'close' };

export interface Schedule {
  params: Params;
  cmds: Cmd[];
}

/** DNs registered from the start and never removed: the ones the loss invariant checks. */
export const BASE_DNS = ['7000', '7001', '5000', '5001'];
/** DNs the schedule registers and unregisters. */
export const EXTRA_DNS = ['9000', '9001'];

const server = fc.constantFrom<ServerName>('A', 'B');

const params: fc.Arbitrary<Params> = fc.record({
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
  mode: fc.constantFrom('hot', 'warm'),
  rate: fc.integer({ min: 0, max: 4 }),
  promotionDelayMs: fc.integer({ min: 0, max: 800 }),
  autoPromote: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  addpMs: fc.integer({ min: 60, max: 800 }),
  netDelayMs: fc.integer({ min: 0, max: 3 }),
  windowFrames: fc.oneof(fc.integer({ min: 2, max: 30 }), fc.constant(100_000)),
  requestTimeoutMs: fc.integer({ min: 20, max: 3000 }),
  splitBrainGraceMs: fc.integer({ min: 0, max: 500 }),
  breaker: fc.boolean(),
  coarseTime: fc.boolean(),
});

const entries: fc.WeightedArbitrary<Cmd>[] = [
  { weight: 12, arbitrary: fc.record({ t: fc.constant('wait' as const), ms: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 50, max: 3000 })) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('emit' as const), n: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('kill' as const), s: server }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('garbage' as const), s: server }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('restart' as const), s: server, reset: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('hang' as const), s: server }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('resume' as const), s: server }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('silent' as const), s: server, on: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('link' as const), s: server, up: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ t: 'switchover' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'splitBrain' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'resolveSplit' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('latency' as const), s: server, ms: fc.constantFrom(0, 5, 50, 400, 3000) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('dupReplies' as const), s: server, on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('refuse' as const), s: server, on: fc.boolean() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('request' as const),
      timeoutMs: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 4000 }) }, { weight: 1, arbitrary: fc.integer({ min: 2 ** 31, max: 2 ** 31 + 1000 }) }),
      idempotent: fc.boolean(),
      abortAfterMs: fc.option(fc.integer({ min: 0, max: 500 }), { freq: 4 }) as fc.Arbitrary<number | null>,
      burst: fc.integer({ min: 1, max: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('register' as const), dn: fc.constantFrom(...EXTRA_DNS) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('unregister' as const), dn: fc.constantFrom(...EXTRA_DNS) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'manual' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('manualEvery' as const), n: fc.integer({ min: 2, max: 5 }), everyMs: fc.integer({ min: 100, max: 1500 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('throwing' as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ t: 'close' as const }) },
];

/**
 * A whole schedule: the run's parameters and up to `maxCmds` steps. `renumber` adds in-place renumbering
 * (a server whose numbering restarts without ending its sessions): opt-in, because one case of it is still
 * open (docs/semantics.md, "Sequence numbers"); the default schedules are the ones the soaks ran.
 */
export function scheduleArb(maxCmds = 40, opts: { renumber?: boolean } = {}): fc.Arbitrary<Schedule> {
  const cmds = opts.renumber ? [...entries, { weight: 1, arbitrary: fc.record({ t: fc.constant('renumber' as const), s: server }) }] : entries;
  return fc.record({ params, cmds: fc.array(fc.oneof(...cmds), { maxLength: maxCmds }) });
}

/** One line per step, for printing a (shrunk) failing schedule. */
export function describe(s: Schedule): string {
  const lines = [`params ${JSON.stringify(s.params)}`];
  for (const c of s.cmds) {
    const { t, ...rest } = c;
    lines.push(`  ${t} ${Object.keys(rest).length ? JSON.stringify(rest) : ''}`.trimEnd());
  }
  return lines.join('\n');
}
