/**
 * The bench's report logic without a simulation: outcomes counted and judged against an oracle, every
 * failure listed, the verdict first (PASS/FAIL per cell), and `compare`'s noise test (Mann–Whitney and a
 * bootstrap interval over the runs).
 */
import { describe, expect, it } from 'vitest';
import { countOutcomes, type RequestRecord } from '../../lib/cli/bench/observer.js';
import { compareReports, renderCompare, renderReport } from '../../lib/cli/bench/output.js';
import { bootstrapMedianDiff, cellOf, mannWhitney, verdictOf } from '../../lib/cli/bench/stats.js';
import { blankRun, type BenchReport, type RunResult } from '../../lib/cli/bench/types.js';
import { renderHtml } from '../../lib/cli/bench/html.js';

const rec = (i: number, outcome: string, extra: Partial<RequestRecord> = {}): RequestRecord => ({ connId: BigInt(i), thisDN: '7000', otherDN: '5000', sentAt: 0, phase: 'before', outcome, ...extra });

function run(i: number, detect: number, reqs: RequestRecord[], judge?: Parameters<typeof countOutcomes>[2]): RunResult {
  const r = blankRun('hot/native/kill', i);
  const c = countOutcomes(reqs, (x) => (x.outcome === 'switchover' ? 'SwitchoverError: in doubt' : null), judge);
  r.requests = { ...r.requests, ...c.all, unsettled: c.unsettled, byPhase: c.byPhase, explanations: c.explanations, failures: c.failures, wrongOutcome: c.wrong.length, inDoubtRouted: c.inDoubtRouted, wrong: c.wrong };
  for (const m of ['detectMs', 'firstEventMs', 'recoverMs', 'overheadMs'] as const) r.metrics[m] = detect;
  return r;
}

const report = (cells: BenchReport['cells'], load = [0.5, 0.5, 0.5]): BenchReport => ({
  tool: 'tserver-ha bench', version: 'test', node: process.version, host: { cpus: 2, loadavg: load, loadavgAtStart: load }, target: 'simulator',
  startedAt: new Date(0).toISOString(), durationMs: 1000, interrupted: false, command: ['tserver-ha', 'bench'], config: { runs: 10 }, cells,
});

describe('bench report', () => {
  it('counts how resolved requests settled, lists every failure, and judges outcomes against the oracle', () => {
    const reqs = [
      rec(1, 'ok', { resolved: 'answered' }),
      rec(2, 'ok', { resolved: 'answered-on-repeat' }),
      rec(3, 'ok', { resolved: 'done-earlier-1202' }),
      rec(4, 'ok', { resolved: 'done-earlier-stream' }),
      ...Array.from({ length: 30 }, (_, i) => rec(100 + i, 'switchover')),
      rec(200, 'elsewhere'),
    ];
    // The oracle: call 4 never routed by a request (a wrong "done earlier"); 100 routed (in doubt, routed).
    const c = countOutcomes(reqs, () => 'explained', (r) =>
      r.connId === 4n ? { oracle: 'timeout → 5001', verdict: 'wrong', why: 'resolved, not routed by a request' } : r.connId === 100n ? { oracle: 'request/A → 5000', verdict: 'in-doubt-routed' } : { oracle: 'none' });
    expect(c.all.resolved).toEqual({ answered: 1, 'answered-on-repeat': 1, 'done-earlier-1202': 1, 'done-earlier-stream': 1 });
    expect(c.all.ok).toBe(4);
    expect(c.all.switchover).toBe(30);
    expect(c.all.elsewhere).toBe(1);
    expect(c.failures).toHaveLength(31); // every one, not the first 20
    expect(c.wrong.map((w) => w.connId)).toEqual(['4']);
    expect(c.inDoubtRouted).toBe(1);
    expect(c.failures.find((f) => f.connId === '100')?.verdict).toBe('in-doubt-routed');
  });

  it('leads with the verdict: PASS per cell, FAIL naming the check', () => {
    const good = cellOf('hot/native/kill', 'hot', 'native', 'kill', [run(0, 3, [rec(1, 'ok', { resolved: 'answered' })], () => ({ oracle: 'request/A → 5000' }))]);
    const bad = cellOf('hot/node/kill', 'hot', 'node', 'kill', [run(0, 3, [rec(1, 'ok', { resolved: 'done-earlier-stream' })], () => ({ oracle: 'timeout → 5001', verdict: 'wrong', why: 'x' }))]);
    bad.key = 'hot/node/kill';
    expect(verdictOf(good).pass).toBe(true);
    expect(verdictOf(bad)).toMatchObject({ pass: false, failed: ['1 wrong outcomes'] });
    const text = renderReport(report([good, bad]));
    const lines = text.split('\n').filter(Boolean);
    expect(lines[1]).toMatch(/^FAIL: 1 of 2 cell/);
    expect(text.indexOf('PASS  hot/native/kill')).toBeLessThan(text.indexOf('route outcomes'));
    expect(text.indexOf('route outcomes')).toBeLessThan(text.indexOf('latencies in ms'));
    expect(text).toMatch(/FAIL {2}hot\/node\/kill .*1 wrong outcomes \(must be 0\)/);
    const html = renderHtml(report([good, bad]));
    expect(html.indexOf('id="verdict"')).toBeLessThan(html.indexOf('id="routes"'));
    expect(html.indexOf('id="routes"')).toBeLessThan(html.indexOf('id="latency"'));
    expect(html).toContain('<tr class="fail">');
  });

  it('Mann–Whitney and the bootstrap tell a shift from noise', () => {
    const a = Array.from({ length: 30 }, (_, i) => 10 + (i % 7) * 0.1);
    const same = Array.from({ length: 30 }, (_, i) => 10 + ((i + 3) % 7) * 0.1);
    const slower = a.map((x) => x + 2);
    expect(mannWhitney(a, same).p!).toBeGreaterThan(0.05);
    expect(mannWhitney(a, slower).p!).toBeLessThan(0.001);
    expect(mannWhitney([1, 2], [3, 4]).p).toBeNull();
    const bs = bootstrapMedianDiff(a, slower)!;
    expect(bs.diff).toBeCloseTo(2, 5);
    expect(bs.lo).toBeGreaterThan(1.5);
    expect(bs.hi).toBeLessThan(2.5);
  });

  it('compare says "no significant change" when the runs cannot tell, names a real shift, and shows both loads', () => {
    const mk = (shift: number) => cellOf('hot/native/kill', 'hot', 'native', 'kill', Array.from({ length: 20 }, (_, i) => run(i, 3 + (i % 5) * 0.2 + shift, [])));
    const A = report([mk(0)], [0.4, 0.3, 0.2]);
    const same = renderCompare(A, report([mk(0)], [3.1, 2, 1]), 'a.json', 'b.json');
    expect(same).toMatch(/^no significant change/m);
    expect(same).toMatch(/load average 0\.40 at start/);
    expect(same).toMatch(/load average 3\.10 at start/);
    expect(same).toMatch(/note: B ran with a load average above the CPU count/);
    const shifted = compareReports(A, report([mk(5)]));
    expect(shifted.significant).toBeGreaterThan(0);
    expect(shifted.cells[0]!.rows.find((r) => r.what === 'detect')!.verdict).toBe('B higher');
  });
});
