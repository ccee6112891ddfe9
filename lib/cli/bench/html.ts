/**
 * `tserver-ha bench --html report.html`: one self-contained file (no network: uPlot's minified JS and CSS
 * are read from node_modules at report time and inlined, with the data). Per cell: latency by percentile
 * (the HdrHistogram CDF) of detection, first event, ready and client overhead, request outcomes by phase,
 * and a per-run timeline. Every chart registers itself in `window.__benchCharts` with its data-point count
 * (the browser test checks each has data).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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
      byPhase: Object.fromEntries(PHASES.map((p) => [p, c.totals.requests.byPhase[p]])),
      runs: c.runs.map((run) => ({
        run: run.run + 1,
        error: run.error,
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

function cellTables(r: BenchReport): string {
  let h = '';
  for (const [i, c] of r.cells.entries()) {
    const t = c.totals;
    const q = t.requests;
    h += `<section class="cell" id="cell-${i}"><h2>${esc(c.key)}</h2>`;
    h += `<p>${t.ok} of ${t.runs} runs completed${t.errors ? ` (${t.errors} failed: left out of the latencies)` : ''}.</p>`;
    h += '<table><thead><tr><th>ms</th><th>n</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr></thead><tbody>';
    for (const m of ['detectMs', 'firstEventMs', 'promotionMs', 'readyMs', 'recoverMs', 'overheadMs'] as MetricName[]) {
      const s = c.summary[m];
      if (!s) continue;
      h += `<tr><td>${esc(METRIC_LABEL[m])}</td><td>${s.count}</td><td>${fmt(s.min)}</td><td>${fmt(s.p50)}</td><td>${fmt(s.p90)}</td><td><b>${fmt(s.p99)}</b></td><td>${fmt(s.p999)}</td><td>${fmt(s.max)}</td><td>${fmt(s.mean)}</td></tr>`;
    }
    h += '</tbody></table>';
    h += `<p>Events: ${t.events.expected === null ? '' : `${t.events.expected} expected, `}${t.events.received} received, <b>${t.events.lost} lost</b> outside reported gaps, ${t.events.lostInGap} inside gaps, <b>${t.events.duplicated} duplicated</b>.`;
    h += ` Requests: ${q.sent} sent, ${q.ok} routed, ${q.switchover} SwitchoverError, ${q.timeout} timeout, ${q.server} ServerError, ${q.other} other; <b>${q.unexplained} unexplained</b>, <b>${q.unsettled} unsettled</b>.</p>`;
    const ex = Object.entries(q.explanations);
    if (ex.length) h += `<ul>${ex.map(([k, n]) => `<li>${n} × ${esc(k)}</li>`).join('')}</ul>`;
    h += `<div class="charts"><div class="chart" id="outcomes-${i}"></div><div class="chart" id="timeline-${i}"></div></div>`;
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
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${css}</style>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{min-width:560px}
.note{color:#555;max-width:60em}pre{background:#f5f5f5;padding:.5em;overflow:auto}
</style></head><body>
<h1>${esc(title)}</h1>
<p class="note">${r.interrupted ? '<b>Interrupted (Ctrl-C): partial results.</b> ' : ''}Node ${esc(r.node)}, ${r.host.cpus} CPUs, load ${r.host.loadavg.map((x) => x.toFixed(1)).join(' ')}; ${Math.round(r.durationMs / 1000)} s.
Latencies in ms from the fault (detect, first event, recover), from the promotion (ready) or the client's own part (overhead); percentiles from HdrHistogram (3 significant digits).</p>
<pre>${esc(r.command.join(' '))}\n${esc(JSON.stringify(r.config))}</pre>
<h2>Latency by percentile</h2>
<div class="charts" id="cdfs"></div>
${cellTables(r)}
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
  const u = new uPlot(Object.assign({ title, width: 560, height: 300 }, opts), data, div);
  register(id, title, u, data);
  return u;
}
// Latency by percentile: one chart per metric, one series per cell (x: percentile, y: ms).
for (const m of DATA.metrics) {
  const cells = DATA.cells.filter((c) => c.cdf[m]);
  if (cells.length === 0) continue;
  const xs = cells[0].cdf[m].map((p) => p[1]);
  const data = [xs, ...cells.map((c) => c.cdf[m].map((p) => p[0]))];
  chart('cdfs', 'cdf-' + m, DATA.labels[m] + ' (ms) by percentile', {
    scales: { x: { time: false } },
    axes: [{ label: 'percentile' }, { label: 'ms' }],
    series: [{ label: 'percentile' }, ...cells.map((c, i) => ({ label: c.key, stroke: COLORS[i % COLORS.length], width: 2, points: { show: true, size: 4 } }))],
  }, data);
}
const OUTCOMES = ['ok', 'switchover', 'timeout', 'server', 'other'];
const PH = ['before', 'switching', 'after'];
DATA.cells.forEach((c, ci) => {
  // Request outcomes by phase: grouped bars (x: outcome × phase), log scale (ok dwarfs failures).
  const xs = [];
  const series = PH.map(() => []);
  OUTCOMES.forEach((o, oi) => PH.forEach((p, pi) => {
    xs.push(oi * (PH.length + 1) + pi);
    PH.forEach((_, si) => series[si].push(si === pi && c.byPhase[p][o] > 0 ? c.byPhase[p][o] : null));
  }));
  const bars = uPlot.paths.bars({ size: [0.9, 40] });
  const ou = document.getElementById('outcomes-' + ci);
  const anyBar = series.some((s) => s.some((v) => v !== null));
  if (!anyBar) ou.textContent = 'No requests were made (passive run).';
  else chart(ou, 'outcomes-chart-' + ci, 'requests by outcome and phase', {
    scales: { x: { time: false, range: [-1, OUTCOMES.length * (PH.length + 1) - 1] }, y: { distr: 3, range: [0.5, null] } },
    axes: [{ values: (u, splits) => splits.map((v) => (v % (PH.length + 1) === 1 ? OUTCOMES[Math.floor(v / (PH.length + 1))] : '')), splits: () => xs }, { label: 'requests' }],
    series: [{ label: 'x' }, ...PH.map((p, i) => ({ label: p, fill: COLORS[i] + 'aa', stroke: COLORS[i], paths: bars, points: { show: false } }))],
    legend: { show: true },
  }, [xs, ...series]);
  // Per-run timeline: each run's milestones (ms after the fault).
  const runs = c.runs.filter((r) => !r.error);
  if (runs.length === 0) {
    document.getElementById('timeline-' + ci).textContent = 'No run completed.';
    return;
  }
  const tl = [runs.map((r) => r.run), runs.map((r) => r.detect), runs.map((r) => r.firstEvent), runs.map((r) => r.promotion), runs.map((r) => r.recover)];
  const names = ['detect', 'first event', 'promotion', 'requests flow (recover)'];
  chart(document.getElementById('timeline-' + ci), 'timeline-chart-' + ci, 'per-run timeline (ms after the fault)', {
    scales: { x: { time: false } },
    axes: [{ label: 'run' }, { label: 'ms after the fault' }],
    series: [{ label: 'run' }, ...names.map((n, i) => ({ label: n, stroke: COLORS[i], paths: () => null, points: { show: true, size: 5, fill: COLORS[i] } }))],
  }, tl);
});
</script>
</body></html>
`;
}
