/** Terminal output of `tserver-ha bench`: the result table, `compare`, and the progress line. */
import { bootstrapMedianDiff, mannWhitney, verdictOf } from './stats.js';
import type { BenchReport, CellResult, LatencySummary, MetricName } from './types.js';

export const fmt = (x: number | null | undefined): string =>
  x === null || x === undefined ? '-' : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);

const pp = (s: LatencySummary | null | undefined) => (s ? `${fmt(s.p50)} / ${fmt(s.p99)}` : '-');

export function renderTable(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return '';
  const cols = Object.keys(rows[0]!);
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (r: Record<string, string | number>) => cols.map((c, i) => String(r[c] ?? '').padEnd(w[i]!)).join('  ').trimEnd();
  return [line(Object.fromEntries(cols.map((c) => [c, c]))), ...rows.map(line)].join('\n') + '\n';
}

/** One row per cell: latencies p50 / p99 (ms), event totals. */
export function cellRows(cells: readonly CellResult[], sim: boolean): Record<string, string | number>[] {
  return cells.map((c) => {
    const t = c.totals;
    const row: Record<string, string | number> = {
      cell: c.key,
      runs: `${t.ok}/${t.runs}`,
      'detect': pp(c.summary.detectMs),
      'first event': pp(c.summary.firstEventMs),
    };
    if (sim) row['ready after promo'] = pp(c.summary.readyMs);
    row['recover'] = pp(c.summary.recoverMs);
    row['overhead'] = pp(c.summary.overheadMs);
    row['lost'] = t.events.lost;
    row['lost(gap)'] = t.events.lostInGap;
    row['dup'] = t.events.duplicated;
    return row;
  });
}

/** One row per cell: how every RequestRouteCall settled, and the outcomes judged against the oracle. */
export function routeRows(cells: readonly CellResult[]): Record<string, string | number>[] {
  return cells.map((c) => {
    const q = c.totals.requests;
    const r = q.resolved;
    return {
      cell: c.key,
      requests: q.sent,
      answered: r.answered,
      'on repeat': r['answered-on-repeat'],
      'done earlier 1202/stream': `${r['done-earlier-1202']}/${r['done-earlier-stream']}`,
      'failed sw/to/srv/else/oth': `${q.switchover}/${q.timeout}/${q.server}/${q.elsewhere}/${q.other}`,
      'in doubt, routed': q.judged ? q.inDoubtRouted : '-',
      unexplained: q.unexplained,
      wrong: q.judged ? q.wrongOutcome : '-',
      'routed twice': q.judged ? q.doubleRouted : '-',
      unsettled: q.unsettled,
    };
  });
}

/** A failure's kind, with the ErrorCode its message names (a SwitchoverError carries the repeat's answer). */
export function failureLabel(kind: string, error: string): string {
  const code = /ErrorCode (\d+)/.exec(error)?.[1];
  return kind === 'switchover' && code ? `SwitchoverError (repeat answered ${code})` : kind === 'switchover' ? 'SwitchoverError' : kind === 'elsewhere' ? 'CallElsewhereError' : kind === 'timeout' ? 'RequestTimeoutError' : kind.startsWith('server:') ? `ServerError ${kind.slice(7)}` : kind;
}

const paint = (on: boolean, code: number, s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

/** The whole text report: the verdict, route outcomes, latencies, then every failed request. */
export function renderReport(r: BenchReport, color = false): string {
  const sim = r.target === 'simulator';
  const c = r.config as Record<string, unknown>;
  let out = '\n';
  out += sim
    ? `tserver-ha bench on the simulator: ${String(c.rate)} events/s, promotion delay ${String(c.promotionDelayMs)} ms, route timeout ${String(c.routeTimeoutMs)} ms, ${String(c.runs)} runs per cell\n`
    : `tserver-ha bench against ${String(c.primary)} / ${String(c.backup)} (${String(c.mode)} standby): ${String(c.runs)} runs${c.routeTo ? `, routing to ${String(c.routeTo)}` : ', passive'}\n`;
  if (r.interrupted) out += paint(color, 33, 'INTERRUPTED (Ctrl-C): partial results') + '\n';
  const verdicts = r.cells.map((x) => ({ cell: x, v: verdictOf(x) }));
  const allPass = verdicts.every((x) => x.v.pass);
  out += '\n' + paint(color, allPass ? 32 : 31, allPass
    ? `PASS: ${r.cells.length} cell(s): nothing lost outside a gap, nothing duplicated, every request settled, every failure explained${sim ? ', no wrong outcome, no call routed twice' : ''}`
    : `FAIL: ${verdicts.filter((x) => !x.v.pass).length} of ${r.cells.length} cell(s)`) + '\n';
  for (const { cell, v } of verdicts) {
    const line = `  ${v.pass ? 'PASS' : 'FAIL'}  ${cell.key.padEnd(24)} ${cell.totals.ok}/${cell.totals.runs} runs${v.failed.length ? `; ${v.failed.join(', ')} (must be 0)` : ''}${v.notes.length ? `; ${v.notes.join('; ')}` : ''}`;
    out += paint(color, v.pass ? 32 : 31, line) + '\n';
  }
  out += '\nroute outcomes (every EventRouteRequest answered with RequestRouteCall), summed over the runs:\n';
  out += renderTable(routeRows(r.cells));
  out += sim
    ? '(done earlier: the repeat after the failover was refused with 1202, or the stream showed the call at our destination; in doubt, routed: SwitchoverError, a sent request\'s timeout or 1205 ("may or may not have run") for a call a request did route — not wrong, listed below; wrong: resolved for a call no request routed, or failed for one a request routed)\n'
    : '(no oracle against a lab pair: outcomes are not judged)\n';
  out += '\nlatencies in ms, p50 / p99 (HdrHistogram); events summed over the runs\n';
  out += renderTable(cellRows(r.cells, sim));
  const expl = r.cells.filter((x) => Object.keys(x.totals.requests.explanations).length > 0);
  if (expl.length) {
    out += '\nfailed requests, by the rule that explains them:\n';
    for (const x of expl) for (const [k, n] of Object.entries(x.totals.requests.explanations)) out += `  ${x.key}: ${n} × ${k}\n`;
  }
  const wrong = r.cells.filter((x) => (x.totals.requests.wrong ?? []).length > 0);
  for (const x of wrong) {
    out += paint(color, 31, `\n${x.key}: ${x.totals.requests.wrongOutcome} wrong outcome(s), ${x.totals.requests.doubleRouted} call(s) routed twice:`) + '\n';
    for (const w of x.totals.requests.wrong) out += `  ${w.phase} ConnID ${w.connId}: ${w.outcome}; oracle: ${w.oracle}: ${w.why}\n`;
  }
  const failing = r.cells.filter((x) => x.runs.some((run) => run.requests.failures.length));
  if (failing.length) {
    out += '\nevery failed request (run, phase, ConnID, error; what the oracle shows; the rule that explains it):\n';
    for (const x of failing) {
      const n = x.runs.reduce((a, run) => a + run.requests.failures.length, 0);
      out += `  ${x.key}: ${n} listed${x.failuresDropped ? ` (${x.failuresDropped} more explained ones left out past 1000)` : ''}\n`;
      for (const run of x.runs) {
        for (const f of run.requests.failures) {
          const tag = f.explanation === null ? paint(color, 31, 'UNEXPLAINED') : f.verdict === 'wrong' ? paint(color, 31, 'WRONG') : f.verdict === 'in-doubt-routed' ? 'in doubt, routed' : '';
          out += `    run ${run.run + 1} ${f.phase} ConnID ${f.connId}${f.atMs === null || f.atMs === undefined ? '' : f.atMs < 0 ? ` (made ${fmt(-f.atMs)} ms before the fault)` : ` (made ${fmt(f.atMs)} ms after the fault)`}: ${failureLabel(f.kind, f.error)}${f.oracle ? `; oracle: ${f.oracle}` : ''}${tag ? `; ${tag}` : ''}\n      ${f.explanation ?? f.error}\n`;
        }
      }
    }
  }
  const errs = r.cells.flatMap((x) => x.runs.filter((run) => run.error).map((run) => `  ${x.key} run ${run.run + 1}: ${run.error}`));
  if (errs.length) out += `\nruns that did not complete (left out of the latencies):\n${errs.slice(0, 20).join('\n')}\n`;
  return out;
}

const COMPARED: [MetricName, string][] = [
  ['detectMs', 'detect'],
  ['firstEventMs', 'first event'],
  ['readyMs', 'ready after promotion'],
  ['recoverMs', 'recover'],
  ['overheadMs', 'client overhead'],
];

const delta = (a: number | undefined, b: number | undefined) => {
  if (a === undefined || b === undefined) return '';
  if (a === 0) return b === 0 ? '±0 %' : '';
  const d = ((b - a) / a) * 100;
  return `${d >= 0 ? '+' : ''}${d.toFixed(0)} %`;
};

/** Per-run values of a cell (completed runs). */
const perRun = (c: CellResult | undefined, f: (r: CellResult['runs'][number]) => number | null) =>
  (c?.runs ?? []).filter((r) => r.error === null).map(f).filter((x): x is number => x !== null && Number.isFinite(x));

/** One compared quantity: medians, p99, and whether B differs from A beyond run-to-run noise. */
export interface ComparedRow {
  what: string;
  a: { n: number; p50?: number; p99?: number; max?: number };
  b: { n: number; p50?: number; p99?: number; max?: number };
  /** Bootstrap 95 % interval of median(B) − median(A) over the runs. */
  medianDiff: { diff: number; lo: number; hi: number } | null;
  /** Mann–Whitney two-sided p over the runs (null: too few runs). */
  p: number | null;
  /** `no significant change`, `B higher`, `B lower`, or `too few runs`. */
  verdict: string;
}

export interface CellComparison {
  key: string;
  runs: { a: string; b: string };
  rows: ComparedRow[];
  totals: { what: string; a: number | null; b: number | null }[];
}

/** Every cell of either report compared: latencies and per-run route outcomes, with the test's verdict. */
export function compareReports(a: BenchReport, b: BenchReport): { load: { a: string; b: string }; cells: CellComparison[]; significant: number; tested: number } {
  const keys = [...new Set([...a.cells.map((c) => c.key), ...b.cells.map((c) => c.key)])];
  let significant = 0;
  let tested = 0;
  const cells = keys.map((key): CellComparison => {
    const ca = a.cells.find((c) => c.key === key);
    const cb = b.cells.find((c) => c.key === key);
    const rows: ComparedRow[] = [];
    const add = (what: string, f: (r: CellResult['runs'][number]) => number | null, sa?: LatencySummary | null, sb?: LatencySummary | null) => {
      const va = perRun(ca, f);
      const vb = perRun(cb, f);
      if (va.length === 0 && vb.length === 0) return;
      const mw = mannWhitney(va, vb);
      const bs = bootstrapMedianDiff(va, vb);
      const side = (v: number[], s?: LatencySummary | null) => (s ? { n: v.length, p50: s.p50, p99: s.p99, max: s.max } : v.length ? { n: v.length, p50: medianOf(v), max: Math.max(...v) } : { n: 0 });
      const verdict = mw.p === null ? 'too few runs' : mw.p < 0.05 ? (mw.z > 0 ? 'B lower' : 'B higher') : 'no significant change';
      if (mw.p !== null) tested++;
      if (mw.p !== null && mw.p < 0.05) significant++;
      rows.push({ what, a: side(va, sa), b: side(vb, sb), medianDiff: bs, p: mw.p, verdict });
    };
    for (const [m, label] of COMPARED) add(label, (r) => r.metrics[m], ca?.summary[m], cb?.summary[m]);
    add('failed requests per run', (r) => r.requests.sent - r.requests.ok - r.requests.unsettled);
    add('routed on repeat or done earlier per run', (r) => (r.requests.resolved ? r.requests.resolved['answered-on-repeat'] + r.requests.resolved['done-earlier-1202'] + r.requests.resolved['done-earlier-stream'] : null));
    const tot = (c: CellResult | undefined, f: (c: CellResult) => number | undefined) => (c ? f(c) ?? null : null);
    const totals = ([
      ['lost', (c: CellResult) => c.totals.events.lost],
      ['lost in gaps', (c: CellResult) => c.totals.events.lostInGap],
      ['duplicated', (c: CellResult) => c.totals.events.duplicated],
      ['requests', (c: CellResult) => c.totals.requests.sent],
      ['requests failed', (c: CellResult) => c.totals.requests.sent - c.totals.requests.ok - c.totals.requests.unsettled],
      ['unexplained', (c: CellResult) => c.totals.requests.unexplained],
      ['wrong outcomes', (c: CellResult) => c.totals.requests.wrongOutcome],
      ['routed twice', (c: CellResult) => c.totals.requests.doubleRouted],
      ['unsettled', (c: CellResult) => c.totals.requests.unsettled],
    ] as const).map(([what, f]) => ({ what, a: tot(ca, f), b: tot(cb, f) }));
    return { key, runs: { a: ca ? `${ca.totals.ok}/${ca.totals.runs}` : '-', b: cb ? `${cb.totals.ok}/${cb.totals.runs}` : '-' }, rows, totals };
  });
  return { load: { a: loadOf(a), b: loadOf(b) }, cells, significant, tested };
}

const medianOf = (v: readonly number[]) => {
  const s = [...v].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The machine's load while a report ran: load average (1 min) at start → end, per CPU count. */
function loadOf(r: BenchReport): string {
  const at = (l: number[] | undefined) => (l && l.length ? l[0]!.toFixed(2) : '?');
  return `${r.host.cpus} CPUs, load average ${at(r.host.loadavgAtStart)} at start → ${at(r.host.loadavg)} at end (5-min ${r.host.loadavg[1]?.toFixed(2) ?? '?'})`;
}

/** `tserver-ha bench compare a.json b.json`: every cell of either side by side, with the noise test. */
export function renderCompare(a: BenchReport, b: BenchReport, nameA: string, nameB: string): string {
  const cmp = compareReports(a, b);
  let out = `A: ${nameA} (${a.startedAt}, ${a.target}${a.interrupted ? ', interrupted' : ''}; ${cmp.load.a})\nB: ${nameB} (${b.startedAt}, ${b.target}${b.interrupted ? ', interrupted' : ''}; ${cmp.load.b})\n`;
  const busy = [a, b].filter((r) => (r.host.loadavg[0] ?? 0) > r.host.cpus || (r.host.loadavgAtStart?.[0] ?? 0) > r.host.cpus);
  if (busy.length) out += `note: ${busy.length === 2 ? 'both runs' : busy[0] === a ? 'A' : 'B'} ran with a load average above the CPU count: tails (p99, max) reflect the machine as much as the code\n`;
  const diff = Object.entries(b.config).filter(([k, v]) => JSON.stringify(a.config[k]) !== JSON.stringify(v));
  if (diff.length) out += `config changed: ${diff.map(([k, v]) => `${k} ${JSON.stringify(a.config[k])} → ${JSON.stringify(v)}`).join(', ')}\n`;
  out += cmp.tested === 0
    ? 'cannot tell change from noise: fewer than 4 completed runs per side in every cell\n'
    : cmp.significant === 0
    ? 'no significant change: no latency or per-run outcome differs beyond run-to-run noise (Mann–Whitney over the runs, p ≥ 0.05)\n'
    : `${cmp.significant} difference(s) beyond run-to-run noise (Mann–Whitney over the runs, p < 0.05; Δ median with its bootstrap 95 % interval)\n`;
  for (const c of cmp.cells) {
    out += `\n${c.key}: runs A ${c.runs.a}, B ${c.runs.b}\n`;
    const rows: Record<string, string>[] = c.rows.map((r) => ({
      '': r.what,
      'A p50': fmt(r.a.p50),
      'B p50': fmt(r.b.p50),
      'Δ p50': delta(r.a.p50, r.b.p50),
      'Δ median 95% CI': r.medianDiff ? `${fmt(r.medianDiff.diff)} [${fmt(r.medianDiff.lo)}, ${fmt(r.medianDiff.hi)}]` : '-',
      'p': r.p === null ? '-' : r.p < 0.001 ? '<0.001' : r.p.toFixed(3),
      'verdict': r.verdict,
      'A p99': fmt(r.a.p99),
      'B p99': fmt(r.b.p99),
      'Δ p99': delta(r.a.p99, r.b.p99),
    }));
    out += renderTable(rows);
    out += `  totals A / B: ${c.totals.map((t) => `${t.what} ${t.a ?? '-'} / ${t.b ?? '-'}`).join(', ')}\n`;
  }
  out += '\n(ms; p50/p99 from each report\'s HdrHistogram; the test and the interval are over per-run values: "no significant change" means the runs cannot tell A from B)\n';
  return out;
}

/** The progress line on a terminal (stderr): cell, run i/N, ETA. Silent when not a TTY or disabled. */
export class Progress {
  private readonly started = Date.now();
  private done = 0;
  private lastLen = 0;

  constructor(
    private readonly enabled: boolean,
    private readonly total: number,
  ) {}

  update(cell: string, cellIndex: number, cells: number, run: number, runs: number, errors: number): void {
    if (!this.enabled) return;
    const elapsed = (Date.now() - this.started) / 1000;
    const eta = this.done > 0 ? (elapsed / this.done) * (this.total - this.done) : NaN;
    const t = (s: number) => (Number.isFinite(s) ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : '…');
    const line = `[cell ${cellIndex + 1}/${cells} ${cell}] run ${run}/${runs}${errors ? `, ${errors} failed` : ''}  elapsed ${t(elapsed)}  ETA ${t(eta)}`;
    process.stderr.write(`\r${line.padEnd(this.lastLen)}`);
    this.lastLen = line.length;
  }

  runDone(): void {
    this.done++;
  }

  clear(): void {
    if (this.enabled && this.lastLen) process.stderr.write(`\r${' '.repeat(this.lastLen)}\r`);
    this.lastLen = 0;
  }
}
