/** Terminal output of `tserver-ha bench`: the result table, `compare`, and the progress line. */
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

/** One row per cell: latencies p50 / p99 (ms), event and request totals. */
export function cellRows(cells: readonly CellResult[], sim: boolean): Record<string, string | number>[] {
  return cells.map((c) => {
    const t = c.totals;
    const q = t.requests;
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
    row['routed'] = `${q.ok}/${q.sent}`;
    row['fail sw/to/srv/oth'] = `${q.switchover}/${q.timeout}/${q.server}/${q.other}`;
    row['unexplained'] = q.unexplained;
    row['unsettled'] = q.unsettled;
    return row;
  });
}

/** The whole text report. */
export function renderReport(r: BenchReport): string {
  const sim = r.target === 'simulator';
  const c = r.config as Record<string, unknown>;
  let out = '\n';
  out += sim
    ? `tserver-ha bench on the simulator: ${String(c.rate)} events/s, promotion delay ${String(c.promotionDelayMs)} ms, route timeout ${String(c.routeTimeoutMs)} ms, ${String(c.runs)} runs per cell\n`
    : `tserver-ha bench against ${String(c.primary)} / ${String(c.backup)} (${String(c.mode)} standby): ${String(c.runs)} runs${c.routeTo ? `, routing to ${String(c.routeTo)}` : ', passive'}\n`;
  out += 'latencies in ms, p50 / p99 (HdrHistogram); events and requests summed over the runs\n';
  if (r.interrupted) out += 'INTERRUPTED (Ctrl-C): partial results\n';
  out += '\n' + renderTable(cellRows(r.cells, sim));
  const expl = r.cells.filter((x) => Object.keys(x.totals.requests.explanations).length > 0);
  if (expl.length) {
    out += '\nfailed requests, by the rule that explains them:\n';
    for (const x of expl) for (const [k, n] of Object.entries(x.totals.requests.explanations)) out += `  ${x.key}: ${n} × ${k}\n`;
  }
  const unexplained = r.cells.filter((x) => x.totals.requests.unexplained > 0);
  for (const x of unexplained) {
    out += `\n${x.key}: ${x.totals.requests.unexplained} failed request(s) no documented rule explains:\n`;
    for (const run of x.runs) for (const f of run.requests.failures.filter((f) => f.explanation === null).slice(0, 3)) out += `  run ${run.run + 1}: ${f.phase} ConnID ${f.connId}: ${f.error}\n`;
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

/** `tserver-ha bench compare a.json b.json`: every cell of either side by side. */
export function renderCompare(a: BenchReport, b: BenchReport, nameA: string, nameB: string): string {
  let out = `A: ${nameA} (${a.startedAt}, ${a.target}${a.interrupted ? ', interrupted' : ''})\nB: ${nameB} (${b.startedAt}, ${b.target}${b.interrupted ? ', interrupted' : ''})\n`;
  const diff = Object.entries(b.config).filter(([k, v]) => JSON.stringify(a.config[k]) !== JSON.stringify(v));
  if (diff.length) out += `config changed: ${diff.map(([k, v]) => `${k} ${JSON.stringify(a.config[k])} → ${JSON.stringify(v)}`).join(', ')}\n`;
  const keys = [...new Set([...a.cells.map((c) => c.key), ...b.cells.map((c) => c.key)])];
  for (const key of keys) {
    const ca = a.cells.find((c) => c.key === key);
    const cb = b.cells.find((c) => c.key === key);
    out += `\n${key}: runs A ${ca ? `${ca.totals.ok}/${ca.totals.runs}` : '-'}, B ${cb ? `${cb.totals.ok}/${cb.totals.runs}` : '-'}\n`;
    const rows: Record<string, string>[] = [];
    for (const [m, label] of COMPARED) {
      const sa = ca?.summary[m] ?? undefined;
      const sb = cb?.summary[m] ?? undefined;
      if (!sa && !sb) continue;
      rows.push({ 'ms': label, 'A p50': fmt(sa?.p50), 'B p50': fmt(sb?.p50), 'Δ p50': delta(sa?.p50, sb?.p50), 'A p99': fmt(sa?.p99), 'B p99': fmt(sb?.p99), 'Δ p99': delta(sa?.p99, sb?.p99), 'A max': fmt(sa?.max), 'B max': fmt(sb?.max) });
    }
    const tot = (c: CellResult | undefined, f: (c: CellResult) => number) => (c ? String(f(c)) : '-');
    for (const [label, f] of [
      ['lost', (c: CellResult) => c.totals.events.lost],
      ['lost in gaps', (c: CellResult) => c.totals.events.lostInGap],
      ['duplicated', (c: CellResult) => c.totals.events.duplicated],
      ['requests failed', (c: CellResult) => c.totals.requests.sent - c.totals.requests.ok - c.totals.requests.unsettled],
      ['unexplained', (c: CellResult) => c.totals.requests.unexplained],
      ['unsettled', (c: CellResult) => c.totals.requests.unsettled],
    ] as const) rows.push({ 'ms': label, 'A p50': tot(ca, f), 'B p50': tot(cb, f), 'Δ p50': '', 'A p99': '', 'B p99': '', 'Δ p99': '', 'A max': '', 'B max': '' });
    out += renderTable(rows.map((r) => ({ ...r, ms: r.ms! })));
  }
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
