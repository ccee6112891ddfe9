#!/usr/bin/env node
/**
 * `npm run check:sim -- [--seconds N] [--seed S] [--runs N] [--json] [--replay SEED:PATH]`: explore random
 * fault schedules against the decision core (a real TServerPair on simulated servers and a virtual clock)
 * and check the invariants of docs/semantics.md after every step. A violation is shrunk to the shortest
 * schedule that still fails and printed with the seed and path that replay it exactly.
 */
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { runSchedule } from './run.js';
import { describe, scheduleArb, type Schedule } from './schedule.js';
import type { Violation } from '../invariants.js';

interface Report {
  seconds: number;
  /** The `--schedules` budget, when one was given; `schedules < budget` means the wall-clock cap ended it. */
  budget?: number;
  seed: number;
  schedules: number;
  steps: number;
  stepsPerSecond: number;
  schedulesPerSecond: number;
  eventsDelivered: number;
  gapsReported: number;
  /** Histories with an in-place renumbering no client could see (not judged). */
  unjudged: number;
  violations: { invariant: string; detail: string; seed: number; path: string; schedule: Schedule; text: string }[];
}

const usage = `usage: check:sim [--seconds N | --schedules N] [--seed S] [--runs N] [--max-steps N] [--no-renumber] [--json] [--replay SEED:PATH]
  --seconds N     explore for N seconds of wall time (default 30; with --schedules, a safety cap only)
  --schedules N   explore exactly N schedules (deterministic for a given seed, whatever the machine's speed)
  --seed S        first fast-check seed (default: from the clock; printed)
  --runs N        schedules per fast-check batch (default 100)
  --max-steps N   longest schedule (default 40 commands)
  --no-renumber   leave out servers that restart their numbering in place (inside open sessions); explored
                  by default: histories no client or no checker can judge are counted, not judged
  --renumber      accepted (the default)
  --replay S:P    replay the counterexample fast-check printed (seed and path), verbose
  --json          one JSON object on stdout`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      schedules: { type: 'string' },
      seed: { type: 'string' },
      runs: { type: 'string', default: '100' },
      'max-steps': { type: 'string', default: '40' },
      renumber: { type: 'boolean', default: false },
      'no-renumber': { type: 'boolean', default: false },
      replay: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  // A schedule budget makes a gate independent of the machine's speed: the seed is fixed, so the same
  // schedules run in the same order everywhere; the wall-clock cap only stops a run that hangs.
  const budget = values.schedules !== undefined ? Number(values.schedules) : Infinity;
  const seconds = Number(values.seconds ?? (values.schedules !== undefined ? 3600 : 30));
  const runs = Number(values.runs);
  const maxSteps = Number(values['max-steps']);
  if (!(seconds > 0) || !(runs > 0) || !(maxSteps > 0) || !(budget > 0) || (budget !== Infinity && !Number.isInteger(budget))) {
    console.error(usage);
    return 2;
  }
  const renumber = !values['no-renumber'];
  const arb = scheduleArb(maxSteps, { renumber });
  if (values.replay) {
    const [seed, path] = values.replay.split(':');
    const out = await fc.check(property(arb, null), { seed: Number(seed), path, numRuns: 1, endOnFailure: true });
    const s = out.counterexample?.[0] as Schedule | undefined;
    if (s) {
      const r = await runSchedule(s);
      console.log(describe(s));
      console.log(r.violation ? `violation: ${r.violation.invariant}: ${r.violation.detail}` : 'no violation');
      return r.violation ? 1 : 0;
    }
    console.log('no violation on replay');
    return 0;
  }
  const seed0 = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31;
  const report: Report = { seconds, ...(budget !== Infinity ? { budget } : {}), seed: seed0, schedules: 0, steps: 0, stepsPerSecond: 0, schedulesPerSecond: 0, eventsDelivered: 0, gapsReported: 0, unjudged: 0, violations: [] };
  const t0 = performance.now();
  let batch = 0;
  while ((performance.now() - t0) / 1000 < seconds && report.schedules < budget && report.violations.length === 0) {
    const seed = (seed0 + batch++) % 2 ** 31;
    const numRuns = Math.min(runs, budget - report.schedules);
    let last: Violation | null = null;
    const out = await fc.check(
      property(arb, (r) => {
        report.schedules++;
        report.steps += r.steps;
        report.eventsDelivered += r.delivered;
        report.gapsReported += r.gaps;
        if (r.unjudged) report.unjudged++;
        if (r.violation) last = r.violation;
      }),
      { seed, numRuns },
    );
    if (out.failed) {
      const s = out.counterexample![0] as Schedule;
      // Re-run the shrunk schedule for its own violation text (the last one seen may be a larger one's).
      const again = await runSchedule(s);
      const v = again.violation ?? last ?? { invariant: 'error', detail: String(out.errorInstance) };
      report.violations.push({ ...v, seed: out.seed, path: out.counterexamplePath ?? '', schedule: s, text: describe(s) });
    }
    if (!values.json && process.stderr.isTTY) {
      process.stderr.write(`\r${report.schedules} schedules, ${report.steps} steps, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
  }
  const elapsed = (performance.now() - t0) / 1000;
  report.stepsPerSecond = Math.round(report.steps / elapsed);
  report.schedulesPerSecond = Math.round((report.schedules / elapsed) * 10) / 10;
  report.seconds = Math.round(elapsed);
  if (values.json) {
    console.log(JSON.stringify({ ...report, violations: report.violations.map(({ schedule: _s, ...v }) => v) }));
  } else {
    if (process.stderr.isTTY) process.stderr.write('\n');
    console.log(`check:sim  seed ${report.seed}  ${report.seconds} s`);
    console.log(`  schedules explored   ${report.schedules}  (${report.schedulesPerSecond}/s)`);
    console.log(`  steps                ${report.steps}  (${report.stepsPerSecond}/s)`);
    console.log(`  events delivered     ${report.eventsDelivered}`);
    console.log(`  gaps reported        ${report.gapsReported}`);
    if (renumber) console.log(`  not judged           ${report.unjudged}  (a restart no client could see, or a loss no checker can place)`);
    console.log(`  violations           ${report.violations.length}`);
    for (const v of report.violations) {
      console.log(`\n${v.invariant}: ${v.detail}\nshrunk schedule:\n${v.text}\nreplay: npm run check:sim -- --replay ${v.seed}:${v.path}${renumber ? '' : ' --no-renumber'}`);
    }
  }
  return report.violations.length > 0 ? 1 : 0;
}

function property(arb: fc.Arbitrary<Schedule>, seen: ((r: Awaited<ReturnType<typeof runSchedule>>) => void) | null) {
  return fc.asyncProperty(arb, async (s) => {
    const r = await runSchedule(s);
    seen?.(r);
    return r.violation === null;
  });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(3);
  },
);
