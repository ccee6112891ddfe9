#!/usr/bin/env node
/**
 * `npm run chaos -- [--minutes N] [--seed S] [--json] [--transport native|node|both] [--mode hot|warm|both]`:
 * randomized fault schedules against the real simulator (processes, sockets, signals), both transports,
 * hot and warm standby, each round checked against the switch's own log with the invariants check:sim
 * uses. A round's schedule replays from its seed (`--seed S --rounds 1 --mode … --transport …`); its
 * timing, being real, does not.
 */
import { parseArgs } from 'node:util';
import { nativeStatus } from '../../lib/native/loader.js';
import { runRound, type RoundResult } from './round.js';

const usage = `usage: chaos [--minutes N] [--rounds N] [--seed S] [--actions N] [--mode hot|warm|both] [--transport native|node|both] [--json] [--verbose]`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '2' },
      rounds: { type: 'string' },
      seed: { type: 'string' },
      actions: { type: 'string', default: '25' },
      mode: { type: 'string', default: 'both' },
      transport: { type: 'string', default: 'both' },
      json: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const modes = values.mode === 'both' ? (['hot', 'warm'] as const) : [values.mode as 'hot' | 'warm'];
  let transports = values.transport === 'both' ? (['native', 'node'] as const) : [values.transport as 'native' | 'node'];
  if (!modes.every((m) => m === 'hot' || m === 'warm') || !transports.every((t) => t === 'native' || t === 'node')) {
    console.error(usage);
    return 2;
  }
  if (!nativeStatus().loaded) {
    if (values.transport === 'native') throw new Error(`the native transport is not available: ${nativeStatus().reason}`);
    transports = ['node'];
    if (!values.json) console.log(`(native addon not loaded: ${nativeStatus().reason}; node transport only)`);
  }
  const cells = modes.flatMap((m) => transports.map((t) => ({ mode: m, transport: t })));
  const seed0 = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31;
  const budgetMs = Number(values.minutes) * 60_000;
  const maxRounds = values.rounds !== undefined ? Number(values.rounds) : Infinity;
  const t0 = performance.now();
  const results: RoundResult[] = [];
  for (let i = 0; i < maxRounds && performance.now() - t0 < budgetMs; i++) {
    const cell = cells[i % cells.length]!;
    const seed = (seed0 + i) % 2 ** 31;
    if (!values.json) process.stdout.write(`round ${i + 1} ${cell.mode}/${cell.transport} seed ${seed}: `);
    const r = await runRound({ seed, ...cell, actions: Number(values.actions), log: values.verbose ? (l) => console.log(l) : undefined });
    results.push(r);
    if (!values.json) {
      console.log(`${r.faults.length} actions, ${r.delivered} events, ${r.gaps} gaps, ${r.switchovers} switchovers, ${r.requests} requests (${r.realCallRequests} for real calls, ${r.routedByRequest} routed per the switch), ${r.seconds} s${r.violation ? `\n  VIOLATION ${r.violation.invariant}: ${r.violation.detail}\n  schedule: ${r.faults.join('; ')}` : ''}`);
    }
    if (r.violation) break;
  }
  const violations = results.filter((r) => r.violation);
  const summary = {
    seed: seed0, minutes: Math.round((performance.now() - t0) / 6000) / 10, rounds: results.length,
    actions: results.reduce((a, r) => a + r.faults.length, 0), eventsDelivered: results.reduce((a, r) => a + r.delivered, 0),
    gaps: results.reduce((a, r) => a + r.gaps, 0), switchovers: results.reduce((a, r) => a + r.switchovers, 0),
    requests: results.reduce((a, r) => a + r.requests, 0),
    realCallRequests: results.reduce((a, r) => a + r.realCallRequests, 0),
    routedByRequest: results.reduce((a, r) => a + r.routedByRequest, 0),
    byCell: cells.map((c) => ({ ...c, rounds: results.filter((r) => r.mode === c.mode && r.transport === c.transport).length })),
    violations: violations.map((r) => ({ seed: r.seed, mode: r.mode, transport: r.transport, ...r.violation, schedule: r.faults })),
  };
  if (values.json) console.log(JSON.stringify(summary));
  else console.log(`\nchaos: ${summary.rounds} rounds in ${summary.minutes} min, ${summary.actions} faults/actions, ${summary.eventsDelivered} events delivered, ${summary.gaps} gaps, ${summary.switchovers} switchovers, ${summary.requests} requests (${summary.realCallRequests} for real calls, ${summary.routedByRequest} of them routed per the switch's log; outcomes judged against it); violations ${violations.length}`);
  return violations.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(3);
  },
);
