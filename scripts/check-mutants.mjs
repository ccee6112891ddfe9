#!/usr/bin/env node
// Proves that `npm run check:sim` has teeth: each of the nine defects an outside review found is put back
// into a copy of the finished code (the rule that fixes it removed), and check:sim must find it by itself.
//   node scripts/check-mutants.mjs [--schedules-each N] [--max-seconds-each N] [--seed S] [--only name,name] [--json]
// Each mutant is budgeted by schedules, not seconds: with the seed fixed, the schedules explored are the same
// on every machine, so a mutant found here is found on a machine five times slower (a time budget was not:
// one mutant needs ~3,300 schedules, which a slow machine did not reach in 15 s). The wall-clock cap is only
// a safety net against a hang, and hitting it is reported as such.
// A mutant is a literal replacement in one source file; the script fails loudly if the text is gone (the
// code moved on: update the mutant), so a mutant can never silently stop mutating anything.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The defects, each as the smallest edit that removes its fix. */
export const MUTANTS = [
  {
    name: '1-sequence-reset',
    defect: 'a server whose numbering restarted is compared with the old numbers (events dropped as duplicates)',
    file: 'lib/pair/core/step.ts',
    find: '(d.epoch !== v.epoch || f.seqDecreased)',
    replace: '(f.seqDecreased)',
  },
  {
    name: '2-link-down-source',
    defect: 'a connection whose CTI link was down is trusted to have a whole stream (no holes)',
    file: 'lib/pair/core/holes.ts',
    find: '  open(fromSeq: number): void {\n',
    replace: '  open(fromSeq: number): void {\n    if (fromSeq >= 0) return;\n',
  },
  {
    name: '3-late-reply-as-event',
    defect: 'a reply whose request already settled falls through and is emitted as an event',
    file: 'lib/endpoint/endpoint.ts',
    find: '          if (!call) {\n            this.ctx.onLateReply(this, type, ref);\n            continue;\n          }',
    replace: '          if (!call) {\n            this.ctx.onEvent(this, batch, i);\n            continue;\n          }',
  },
  {
    name: '4-settled-stay-queued',
    defect: 'requests settled while queued stay in the queue until the next dispatch',
    file: 'lib/pair/requests.ts',
    find: '    this.queue.delete(e);\n    this.requeued.delete(e);\n',
    replace: '',
    extra: [{ find: '      this.queue.delete(e);\n      if (!this.trySend(e, target)) {', replace: '      this.queue.delete(e);\n      if (!this.live.has(e)) continue;\n      if (!this.trySend(e, target)) {' }],
  },
  {
    name: '5-resend-reversed',
    defect: 'idempotent requests lost together are re-sent in reverse order',
    file: 'lib/pair/requests.ts',
    find: 'const all = [...this.queue.keys(), ...this.requeued].sort((a, b) => a.order - b.order);',
    replace: 'const all = [...[...this.requeued].reverse(), ...this.queue.keys()];',
  },
  {
    name: '6-registration-no-deadline',
    defect: 'registerAddress()/unregisterAddress() wait for an answer without a deadline',
    file: 'lib/pair/pair.ts',
    find: '{ timeoutMs, rule: ruleFor(type, undefined), signal }',
    replace: '{ timeoutMs: 0x7fffffff, rule: ruleFor(type, undefined), signal }',
  },
  {
    name: '7-throwing-listener',
    defect: 'a throwing listener keeps events() (and later listeners) from seeing the event',
    file: 'lib/pair/outbox.ts',
    find: "        if (n !== 'error' || this.target.listenerCount('error') > 0) this.call(n, n, p);\n        this.call(this.all, n, p);",
    replace: "        try {\n          if (n !== 'error' || this.target.listenerCount('error') > 0) this.target.emit(n, p);\n          this.target.emit(this.all, n, p);\n        } catch (err) {\n          this.failed(n, err);\n        }",
  },
  {
    name: '8-deadline-overflow',
    defect: 'a deadline above 2^31-1 ms is handed to setTimeout (which fires it after 1 ms)',
    file: 'lib/pair/requests.ts',
    find: 'ms < 1 || ms > MAX_TIMEOUT_MS)',
    replace: 'ms < 1)',
  },
  {
    name: '9-handshake-timeout-code',
    defect: 'a handshake that times out is reported as ERR_TRANSPORT_CLOSED instead of ERR_HANDSHAKE',
    file: 'lib/endpoint/endpoint.ts',
    find: '      if (timedOut && !this.stopped) throw new HandshakeError(',
    replace: '      if (timedOut && this.stopped && !timedOut) throw new HandshakeError(',
  },
  // Request outcomes across a failover (docs/semantics.md, "Requests across a failover").
  {
    name: '10-repeat-refusal-misread',
    defect: "a repeated route refused with 1202 (the earlier attempt routed the call) is failed instead of settled as done earlier",
    file: 'lib/pair/request-rules.ts',
    find: "      case ErrorCode.CallAlreadyRouted:\n        return { settle: 'resolve', outcome: 'done-earlier' };",
    replace: "      case ErrorCode.CallAlreadyRouted:\n        return { settle: 'reject' };",
  },
  {
    name: '11-opt-out-repeated',
    defect: 'a request that opted out of repeats (repeat: false) is sent again after its server was lost',
    file: 'lib/pair/requests.ts',
    find: '      if (e.rule.repeatable) {',
    replace: '      if (e.rule.repeatable || e.name === "RequestRouteCall") {',
  },
  // What events say (issue: the checker judges claims, not only safety).
  {
    name: '12-split-brain-names-the-source',
    defect: 'splitBrain names the delivery source as kept, while requests go to the other server (after a management switchover)',
    file: 'lib/pair/core/step.ts',
    find: "const keeping = s.routing.active ?? s.delivery.source ?? 'primary';",
    replace: "const keeping = s.delivery.source ?? 'primary';",
  },
  // When things happen (the checker judges timeliness on the virtual clock).
  {
    name: '13-own-drop-paced',
    defect: 'a server we dropped ourselves (switchover()) is paced like a failing one: repeated switchovers delay its reconnect',
    file: 'lib/pair/supervisor.ts',
    find: "      if (dropped === 'manual') return;\n",
    replace: '',
  },
  {
    name: '14-breaker-counts-outages',
    defect: 'the breaker counts attempts no server answered (refused, timed out): an outage opens it, and a server back from it is connected again only at the re-probe',
    file: 'lib/endpoint/breaker.ts',
    find: '    errorFilter: noAnswer,\n',
    replace: '',
  },
  {
    name: '15-queued-not-dispatched-on-active',
    defect: 'requests queued while no server could take them are not sent when a server becomes active: they wait for the next submission or core input',
    file: 'lib/pair/core/step.ts',
    find: "  fx.push({ kind: 'active', event: { Server: s.config.name, endpoint: name, timestamp: now } });\n  fx.push({ kind: 'dispatch', ep: name });\n",
    replace: "  fx.push({ kind: 'active', event: { Server: s.config.name, endpoint: name, timestamp: now } });\n",
  },
];

const editsOf = (m) => [{ find: m.find, replace: m.replace }, ...(m.extra ?? [])];

/** The edits of mutant `m` whose text is no longer in `dir`'s source (a refactor moved it). */
function staleEdits(dir, m) {
  const src = readFileSync(join(dir, m.file), 'utf8');
  return editsOf(m).filter((e) => !src.includes(e.find));
}

function mutate(dir, m) {
  const stale = staleEdits(dir, m);
  if (stale.length) throw new Error(`mutant ${m.name}: text not found in ${m.file} (update the mutant): ${JSON.stringify(stale[0].find)}`);
  for (const edit of editsOf(m)) {
    const path = join(dir, m.file);
    writeFileSync(path, readFileSync(path, 'utf8').replace(edit.find, edit.replace));
  }
}

function main() {
  const { values } = parseArgs({
    options: {
      'schedules-each': { type: 'string', default: '10000' },
      'max-seconds-each': { type: 'string', default: '900' },
      seed: { type: 'string', default: '1' },
      only: { type: 'string' },
      json: { type: 'boolean', default: false },
      'texts-only': { type: 'boolean', default: false },
    },
  });
  // A refactor that moves a mutant's text would otherwise surface only at the end of CI.
  if (values['texts-only']) {
    const stale = MUTANTS.filter((m) => staleEdits(root, m).length > 0).map((m) => m.name);
    for (const name of stale) console.error(`mutant ${name}: its text is no longer in the source (update the mutant)`);
    if (!stale.length) console.log(`all ${MUTANTS.length} mutants apply to the current source`);
    return stale.length ? 1 : 0;
  }
  const only = values.only ? new Set(values.only.split(',')) : null;
  const results = [];
  for (const m of MUTANTS) {
    if (only && !only.has(m.name)) continue;
    const dir = mkdtempSync(join(tmpdir(), `tsha-mutant-${m.name}-`));
    try {
      for (const p of ['lib', 'check', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) cpSync(join(root, p), join(dir, p), { recursive: true });
      symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
      mutate(dir, m);
      // Only what check:sim runs is compiled (no bench, no native addon: the simulation never loads it).
      writeFileSync(join(dir, 'tsconfig.mutant.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { outDir: 'dist', declaration: false, sourceMap: false }, include: ['lib/**/*.ts', 'check/**/*.ts'] }));
      execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.mutant.json'], { cwd: dir, stdio: 'inherit' });
      const t0 = Date.now();
      const r = spawnSync(process.execPath, ['dist/check/dst/main.js', '--schedules', values['schedules-each'], '--seconds', values['max-seconds-each'], '--seed', values.seed, '--json'], {
        cwd: dir, encoding: 'utf8', env: { ...process.env, TSERVER_HA_NATIVE: 'off' }, maxBuffer: 64 << 20,
      });
      const report = JSON.parse(r.stdout.trim().split('\n').pop() || '{}');
      const v = report.violations?.[0];
      results.push({
        mutant: m.name, defect: m.defect, found: Boolean(v), seconds: Math.round((Date.now() - t0) / 1000), schedules: report.schedules,
        capped: !v && report.schedules < Number(values['schedules-each']),
        ...(v ? { invariant: v.invariant, detail: v.detail, replay: `${v.seed}:${v.path}`, schedule: v.text } : {}),
      });
      if (!values.json) {
        const x = results[results.length - 1];
        console.log(`${x.found ? 'FOUND ' : 'missed'} ${m.name} in ${x.seconds} s after ${x.schedules} schedules${x.found ? `: ${x.invariant}: ${x.detail}` : ''}${x.capped ? ' (wall-clock cap reached before the schedule budget)' : ''}`);
        if (x.found) console.log(x.schedule.split('\n').map((l) => `    ${l}`).join('\n'));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const found = results.filter((r) => r.found).length;
  if (values.json) console.log(JSON.stringify({ found, of: results.length, results }));
  else console.log(`\n${found} of ${results.length} defects found by check:sim on its own (${results.reduce((a, r) => a + r.seconds, 0)} s in all)`);
  return found === results.length ? 0 : 1;
}

process.exit(main());
