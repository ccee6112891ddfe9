/**
 * `tserver-ha bench --html report.html`: one self-contained file (no network: uPlot's minified JS and CSS
 * are read from node_modules at report time and inlined, with the data). It leads with the verdict (one
 * line per cell, green/red), then the route outcomes (per cell, per failover, every failed request with
 * the rule that explains it and what the switch's oracle shows), then the latencies: by percentile on a
 * log axis toward the tail (as HdrHistogram plots), per cell the table and a per-run timeline. Every chart
 * registers itself in `window.__benchCharts` with its data-point count (the browser test checks each has data).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { failureLabel, routeRows } from './output.js';
import { verdictOf } from './stats.js';
import { METRIC_LABEL, PHASES, type BenchReport, type MetricName } from './types.js';

const require = createRequire(import.meta.url);

/** uPlot's minified JS and CSS, from the installed package. */
function uplotAssets(): { js: string; css: string } {
  const dir = dirname(require.resolve('uplot'));
  return { js: readFileSync(join(dir, 'uPlot.iife.min.js'), 'utf8'), css: readFileSync(join(dir, 'uPlot.min.css'), 'utf8') };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** JSON safe inside a <script> element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

const CDF_METRICS: MetricName[] = ['detectMs', 'firstEventMs', 'readyMs', 'overheadMs', 'recoverMs'];

/** What the page's script draws (a trimmed copy of the report). */
function pageData(r: BenchReport) {
  return {
    target: r.target,
    cells: r.cells.map((c) => ({
      key: c.key,
      cdf: Object.fromEntries(CDF_METRICS.map((m) => [m, c.summary[m]?.cdf ?? null])),
      runs: c.runs.map((run) => ({
        run: run.run + 1,
        error: run.error,
        onRepeat: run.requests.resolved?.['answered-on-repeat'] ?? 0,
        doneEarlier: (run.requests.resolved?.['done-earlier-1202'] ?? 0) + (run.requests.resolved?.['done-earlier-stream'] ?? 0),
        failed: run.requests.sent - run.requests.ok - run.requests.unsettled,
        detect: run.metrics.detectMs,
        firstEvent: run.metrics.firstEventMs,
        promotion: run.metrics.promotionMs,
        recover: run.metrics.recoverMs,
      })),
    })),
    labels: METRIC_LABEL,
    metrics: CDF_METRICS,
  };
}

const fmt = (x: number | null | undefined) => (x === null || x === undefined ? '–' : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(3));

const table = (rows: Record<string, string | number>[], cls = '') => {
  if (rows.length === 0) return '';
  const cols = Object.keys(rows[0]!);
  return `<table class="${cls}"><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${cols.map((c) => `<td>${esc(String(r[c] ?? ''))}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
};

/** The verdict: one line per cell, green or red, what failed and what is worth knowing. */
function verdictSection(r: BenchReport): string {
  const vs = r.cells.map((c) => ({ c, v: verdictOf(c) }));
  const pass = vs.every((x) => x.v.pass) && vs.length > 0;
  const sim = r.target === 'simulator';
  let h = `<section id="verdict"><h2>Verdict</h2><p class="banner ${pass ? 'pass' : 'fail'}">${pass ? 'PASS' : 'FAIL'}: ${
    pass
      ? `every cell: nothing lost outside a gap, nothing duplicated, every request settled, every failed request explained${sim ? ', no outcome contradicting the switch, no call routed twice' : ''}.`
      : `${vs.filter((x) => !x.v.pass).length} of ${vs.length} cells failed a check (below).`
  }</p>`;
  h += '<table class="verdict"><thead><tr><th>cell</th><th>verdict</th><th>runs</th><th>requests</th><th>failed</th><th>wrong</th><th>routed twice</th><th>failed checks (must be 0)</th><th>notes</th></tr></thead><tbody>';
  for (const { c, v } of vs) {
    h += `<tr class="${v.pass ? 'pass' : 'fail'}"><td><a href="#cell-${esc(c.key)}">${esc(c.key)}</a></td><td><b>${v.pass ? 'PASS' : 'FAIL'}</b></td><td>${c.totals.ok}/${c.totals.runs}</td><td>${c.totals.requests.sent}</td><td>${c.totals.requests.sent - c.totals.requests.ok - c.totals.requests.unsettled}</td><td>${c.totals.requests.judged ? c.totals.requests.wrongOutcome : '–'}</td><td>${c.totals.requests.judged ? c.totals.requests.doubleRouted : '–'}</td><td>${esc(v.failed.join(', ') || 'none')}</td><td>${esc(v.notes.join('; '))}</td></tr>`;
  }
  h += '</tbody></table>';
  h += `<p class="note">Checks: events lost outside a reported gap, duplicated or unexpected; requests unsettled; failed requests no documented rule explains${sim ? '; outcomes contradicting the switch’s oracle (resolved for a call no request routed, failed for a call a request routed — in-doubt errors aside, listed); calls routed twice' : ''}.</p></section>`;
  return h;
}

/** How every request settled: the table over cells, per cell the failovers (runs) and every failure. */
function routeSection(r: BenchReport): string {
  let h = '<section id="routes"><h2>Route outcomes</h2>';
  h += '<p class="note">Every EventRouteRequest is answered with RequestRouteCall. <i>answered</i>: routed the first time; <i>on repeat</i>: in doubt after the failover, repeated on the new primary, which routed it; <i>done earlier</i>: the repeat showed the first attempt had routed it (the switch refused with 1202, or the stream showed the call at our destination); <i>in doubt, routed</i>: SwitchoverError, a sent request’s timeout or 1205 (errors saying “may or may not have run”) for a call a request did route — the client could not know, not a false answer; <i>wrong</i>: resolved for a call no request routed, or failed for one a request routed; <i>routed twice</i>: more than one route line for one call in the switch’s log.</p>';
  h += table(routeRows(r.cells), 'routes');
  for (const [i, c] of r.cells.entries()) {
    const q = c.totals.requests;
    h += `<h3>${esc(c.key)}: route outcomes per failover</h3><div class="charts"><div class="chart" id="routes-${i}"></div><div>`;
    const byPhase = PHASES.map((p) => {
      const o = q.byPhase[p];
      return { phase: p, sent: o.sent, answered: o.resolved?.answered ?? o.ok, 'on repeat': o.resolved?.['answered-on-repeat'] ?? 0, 'done earlier': (o.resolved?.['done-earlier-1202'] ?? 0) + (o.resolved?.['done-earlier-stream'] ?? 0), SwitchoverError: o.switchover, timeout: o.timeout, ServerError: o.server, CallElsewhere: o.elsewhere ?? 0, other: o.other };
    });
    h += '<p>By when the request was made (before the fault, switching, after recovery):</p>' + table(byPhase);
    const ex = Object.entries(q.explanations);
    if (ex.length) h += `<p>Failed requests by the rule that explains them:</p><ul>${ex.map(([k, n]) => `<li>${n} × ${esc(k)}</li>`).join('')}</ul>`;
    h += '</div></div>';
    if ((q.wrong ?? []).length) {
      h += `<p class="bad">${q.wrongOutcome} wrong outcome(s), ${q.doubleRouted} call(s) routed twice:</p>`;
      h += table(q.wrong.map((w) => ({ phase: w.phase, ConnID: w.connId, outcome: w.outcome, oracle: w.oracle, why: w.why })), 'bad');
    }
    const fails = c.runs.flatMap((run) => run.requests.failures.map((f) => ({ run: run.run + 1, ...f })));
    if (fails.length) {
      h += `<details${fails.length <= 50 ? ' open' : ''}><summary>every failed request (${fails.length}${c.failuresDropped ? `; ${c.failuresDropped} explained ones left out past 1000` : ''})</summary><table class="fails"><thead><tr><th>run</th><th>phase</th><th>made (ms after fault)</th><th>ConnID</th><th>error</th><th>oracle</th><th>judged</th><th>explanation</th></tr></thead><tbody>`;
      for (const f of fails) {
        const bad = f.explanation === null || f.verdict === 'wrong';
        h += `<tr class="${bad ? 'fail' : ''}"><td>${f.run}</td><td>${f.phase}</td><td>${fmt(f.atMs)}</td><td>${esc(f.connId)}</td><td title="${esc(f.error)}">${esc(failureLabel(f.kind ?? f.error, f.error))}</td><td>${esc(f.oracle ?? '')}</td><td>${esc(f.verdict === 'wrong' ? 'WRONG' : f.verdict === 'in-doubt-routed' ? 'in doubt, routed' : 'ok')}</td><td>${esc(f.explanation ?? `UNEXPLAINED: ${f.error}`)}</td></tr>`;
      }
      h += '</tbody></table></details>';
    }
  }
  return h + '</section>';
}

function latencyTables(r: BenchReport): string {
  let h = '';
  for (const [i, c] of r.cells.entries()) {
    const t = c.totals;
    h += `<section class="cell" id="cell-${esc(c.key)}"><h3>${esc(c.key)}</h3>`;
    h += `<p>${t.ok} of ${t.runs} runs completed${t.errors ? ` (${t.errors} failed: left out of the latencies)` : ''}.</p>`;
    h += '<table><thead><tr><th>ms</th><th>n</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr></thead><tbody>';
    for (const m of ['detectMs', 'firstEventMs', 'promotionMs', 'readyMs', 'recoverMs', 'overheadMs'] as MetricName[]) {
      const s = c.summary[m];
      if (!s) continue;
      h += `<tr><td>${esc(METRIC_LABEL[m])}</td><td>${s.count}</td><td>${fmt(s.min)}</td><td>${fmt(s.p50)}</td><td>${fmt(s.p90)}</td><td><b>${fmt(s.p99)}</b></td><td>${fmt(s.p999)}</td><td>${fmt(s.max)}</td><td>${fmt(s.mean)}</td></tr>`;
    }
    h += '</tbody></table>';
    h += `<p>Events: ${t.events.expected === null ? '' : `${t.events.expected} expected, `}${t.events.received} received, <b>${t.events.lost} lost</b> outside reported gaps, ${t.events.lostInGap} inside gaps, <b>${t.events.duplicated} duplicated</b>.</p>`;
    h += `<div class="charts"><div class="chart" id="timeline-${i}"></div></div>`;
    const worst = c.runs.filter((x) => !x.error && x.metrics.recoverMs !== null).sort((a, b) => b.metrics.recoverMs! - a.metrics.recoverMs!)[0];
    if (worst) {
      h += `<details><summary>timeline of the slowest run (run ${worst.run + 1}, recover ${fmt(worst.metrics.recoverMs)} ms)</summary><table><tbody>`;
      for (const mk of worst.timeline) h += `<tr><td class="num">${fmt(mk.t)}</td><td>${esc(mk.what)}</td></tr>`;
      h += '</tbody></table></details>';
    }
    h += '</section>';
  }
  return h;
}

/** The whole page. */
export function renderHtml(r: BenchReport): string {
  const { js, css } = uplotAssets();
  const c = r.config as Record<string, unknown>;
  const title = `tserver-ha bench — ${r.target === 'simulator' ? 'simulator' : `${String(c.primary)} / ${String(c.backup)}`} — ${r.startedAt}`;
  const load = (l: number[] | undefined) => (l ? l.map((x) => x.toFixed(1)).join(' ') : '?');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${css}</style>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}h3{font-size:1.05em;margin-top:1.2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
table.fails td,table.verdict td:nth-child(8),table.verdict td:nth-child(9),table.bad td:last-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.chart{min-width:560px}
.note{color:#555;max-width:70em}pre{background:#f5f5f5;padding:.5em;overflow:auto}
.banner{font-size:1.15em;font-weight:600;padding:.4em .8em;border-radius:4px;max-width:70em}
.banner.pass{background:#e3f4e3;color:#145214;border:1px solid #2ca02c}.banner.fail{background:#fbe3e3;color:#7a1010;border:1px solid #d62728}
tr.pass td{background:#eef8ee}tr.fail td{background:#fbe9e9}tr.pass td:nth-child(2){color:#1a7a1a}tr.fail td:nth-child(2){color:#b01010}
.bad{color:#b01010;font-weight:600}
</style></head><body>
<h1>${esc(title)}</h1>
<p class="note">${r.interrupted ? '<b>Interrupted (Ctrl-C): partial results.</b> ' : ''}Node ${esc(r.node)}, ${r.host.cpus} CPUs, load average (1/5/15 min) ${load(r.host.loadavgAtStart)} at the start, ${load(r.host.loadavg)} at the end; ${Math.round(r.durationMs / 1000)} s.</p>
<pre>${esc(r.command.join(' '))}\n${esc(JSON.stringify(r.config))}</pre>
${verdictSection(r)}
${routeSection(r)}
<section id="latency"><h2>Latencies</h2>
<p class="note">ms from the fault (detect, first event, recover), from the promotion (ready) or the client's own part (overhead). By percentile from HdrHistogram (3 significant digits); the x axis is logarithmic in 1/(1 − percentile), so the tail (p90, p99, p99.9) gets as much room as the median.</p>
<div class="charts" id="cdfs"></div>
${latencyTables(r)}
</section>
<script>${js}</script>
<script>
const DATA = ${scriptJson(pageData(r))};
window.__benchCharts = [];
const COLORS = ['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2','#17becf','#7f7f7f','#bcbd22'];
function register(id, title, u, data) {
  let points = 0;
  for (let s = 1; s < data.length; s++) for (const v of data[s]) if (v !== null && v !== undefined) points++;
  window.__benchCharts.push({ id, title, points, width: u.width, height: u.height });
}
function chart(parent, id, title, opts, data) {
  const div = document.createElement('div');
  div.className = 'chart';
  div.id = id;
  (typeof parent === 'string' ? document.getElementById(parent) : parent).appendChild(div);
  const u = new uPlot(Object.assign({ title, width: 560, height: 300, legend: { live: false } }, opts), data, div);
  register(id, title, u, data);
  return u;
}
// Integer ticks (runs, counts).
const INT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
const intValues = (u, splits) => splits.map((v) => (Number.isInteger(v) ? String(v) : ''));
// Latency by percentile: x = 1/(1 - p), log scale (HdrHistogram's percentile plot); one series per cell.
const PCT_TICKS = [[1, '0%'], [2, '50%'], [10, '90%'], [100, '99%'], [1000, '99.9%'], [10000, 'max']];
const xOf = (p) => (p >= 100 ? 10000 : Math.min(10000, 1 / (1 - p / 100)));
for (const m of DATA.metrics) {
  const cells = DATA.cells.filter((c) => c.cdf[m]);
  if (cells.length === 0) continue;
  const xs = cells[0].cdf[m].map((p) => xOf(p[1]));
  const data = [xs, ...cells.map((c) => c.cdf[m].map((p) => p[0]))];
  chart('cdfs', 'cdf-' + m, DATA.labels[m] + ' (ms) by percentile', {
    scales: { x: { time: false, distr: 3, log: 10, range: [1, 10000] }, y: { range: (u, lo, hi) => [0, hi > 0 ? hi * 1.05 : 1] } },
    axes: [
      { label: 'percentile', splits: () => PCT_TICKS.map((t) => t[0]), filter: (u, splits) => splits, values: (u, splits) => splits.map((v) => (PCT_TICKS.find((t) => Math.abs(t[0] - v) < 1e-6 * t[0]) || [0, ''])[1]) },
      { label: 'ms', size: 60 },
    ],
    series: [{ label: 'percentile' }, ...cells.map((c, i) => ({ label: c.key, stroke: COLORS[i % COLORS.length], width: 2, points: { show: true, size: 4 } }))],
  }, data);
}
DATA.cells.forEach((c, ci) => {
  const runs = c.runs.filter((r) => !r.error);
  // Route outcomes per failover: per run, stacked bars of what was not a plain first-time answer.
  const rt = document.getElementById('routes-' + ci);
  const all = c.runs;
  if (all.length === 0) rt.textContent = 'No run.';
  else {
    const x = all.map((r) => r.run);
    const rep = all.map((r) => r.onRepeat);
    const de = all.map((r, i) => rep[i] + r.doneEarlier);
    const fl = all.map((r, i) => de[i] + r.failed);
    const bars = uPlot.paths.bars({ size: [0.8, 30] });
    const nz = (a) => a.map((v) => v);
    chart(rt, 'routes-chart-' + ci, 'route outcomes per failover (requests, stacked)', {
      scales: { x: { time: false, range: [0.5, x.length + 0.5] }, y: { range: (u, lo, hi) => [0, Math.max(1, hi)] } },
      axes: [{ label: 'run', incrs: INT_INCRS, values: intValues }, { label: 'requests', incrs: INT_INCRS, values: intValues }],
      series: [
        { label: 'run' },
        { label: 'failed', fill: '#d62728cc', stroke: '#d62728', paths: bars, points: { show: false } },
        { label: 'done earlier', fill: '#ff7f0ecc', stroke: '#ff7f0e', paths: bars, points: { show: false } },
        { label: 'routed on repeat', fill: '#2ca02ccc', stroke: '#2ca02c', paths: bars, points: { show: false } },
      ],
    }, [x, nz(fl), nz(de), nz(rep)]);
  }
  // Per-run timeline: each run's milestones (ms after the fault).
  if (runs.length === 0) {
    document.getElementById('timeline-' + ci).textContent = 'No run completed.';
    return;
  }
  const tl = [runs.map((r) => r.run), runs.map((r) => r.detect), runs.map((r) => r.firstEvent), runs.map((r) => r.promotion), runs.map((r) => r.recover)];
  const names = ['detect', 'first event', 'promotion', 'requests flow (recover)'];
  chart(document.getElementById('timeline-' + ci), 'timeline-chart-' + ci, 'per-run timeline (ms after the fault)', {
    scales: { x: { time: false } },
    axes: [{ label: 'run', incrs: INT_INCRS, values: intValues }, { label: 'ms after the fault', size: 60 }],
    series: [{ label: 'run' }, ...names.map((n, i) => ({ label: n, stroke: COLORS[i], paths: () => null, points: { show: true, size: 5, fill: COLORS[i] } }))],
  }, tl);
});
</script>
</body></html>
`;
}
