/**
 * Latency distributions with HdrHistogram (hdr-histogram-js): values in µs, 3 significant digits, so a
 * percentile is exact to 0.1 % of its value whatever the number of runs; and per-cell totals.
 */
import { build, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import {
  METRICS,
  PHASES,
  emptyEvents,
  emptyOutcomes,
  type CellResult,
  type CellTotals,
  type LatencySummary,
  type MetricName,
  type Outcomes,
  type RunResult,
} from './types.js';

/** Percentiles the CDF is drawn at. */
const CDF_POINTS = [0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 97, 98, 99, 99.5, 99.9, 100];

/** The distribution of `values` (ms), or null when there is none. */
export function summarize(values: readonly (number | null)[]): LatencySummary | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  if (v.length === 0) return null;
  const h = build({ numberOfSignificantValueDigits: 3, lowestDiscernibleValue: 1, autoResize: true });
  let clampedNegative = 0;
  for (const ms of v) {
    if (ms < 0) clampedNegative++;
    h.recordValue(Math.max(0, Math.round(ms * 1000)));
  }
  const ms = (us: number) => Math.round(us) / 1000;
  // A percentile is the highest value equivalent to it (3 significant digits): never report it above the max.
  const pct = (p: number) => Math.min(h.getValueAtPercentile(p), h.maxValue);
  const summary: LatencySummary = {
    count: v.length,
    min: ms(pct(0)),
    p50: ms(pct(50)),
    p90: ms(pct(90)),
    p99: ms(pct(99)),
    p999: ms(pct(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
    clampedNegative,
    cdf: CDF_POINTS.map((p) => [ms(pct(p)), p]),
    hdr: encodeIntoCompressedBase64(h),
  };
  h.destroy();
  return summary;
}

function addOutcomes(into: Outcomes, o: Outcomes): void {
  into.sent += o.sent;
  into.ok += o.ok;
  into.switchover += o.switchover;
  into.timeout += o.timeout;
  into.server += o.server;
  into.other += o.other;
  into.unexplained += o.unexplained;
  for (const [k, n] of Object.entries(o.detail)) into.detail[k] = (into.detail[k] ?? 0) + n;
}

/** Totals over the runs of a cell (failed runs count in `errors` and in requests, not in events). */
export function totals(runs: readonly RunResult[]): CellTotals {
  const t: CellTotals = {
    runs: runs.length,
    ok: 0,
    errors: 0,
    events: emptyEvents(),
    requests: { ...emptyOutcomes(), unsettled: 0, byPhase: { before: emptyOutcomes(), switching: emptyOutcomes(), after: emptyOutcomes() }, explanations: {} },
  };
  let expectedKnown = true;
  for (const r of runs) {
    if (r.error) t.errors++;
    else {
      t.ok++;
      const e = r.events;
      if (e.expected === null) expectedKnown = false;
      else t.events.expected! += e.expected;
      t.events.received += e.received;
      t.events.lost += e.lost;
      t.events.lostInGap += e.lostInGap;
      t.events.duplicated += e.duplicated;
      t.events.unexpected += e.unexpected;
      t.events.gapSeqs += e.gapSeqs;
    }
    addOutcomes(t.requests, r.requests);
    t.requests.unsettled += r.requests.unsettled;
    for (const p of PHASES) addOutcomes(t.requests.byPhase[p], r.requests.byPhase[p]);
    for (const [k, n] of Object.entries(r.requests.explanations)) t.requests.explanations[k] = (t.requests.explanations[k] ?? 0) + n;
  }
  if (!expectedKnown) t.events.expected = null;
  return t;
}

/** A cell from its runs: distributions over the completed runs, totals over all. */
export function cellOf(key: string, mode: CellResult['mode'], transport: CellResult['transport'], fault: string, runs: RunResult[]): CellResult {
  const ok = runs.filter((r) => r.error === null);
  const summary: Partial<Record<MetricName, LatencySummary | null>> = {};
  for (const m of METRICS) summary[m] = summarize(ok.map((r) => r.metrics[m]));
  return { key, mode, transport, fault, summary, totals: totals(runs), runs };
}
