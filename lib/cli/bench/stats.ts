/**
 * Latency distributions with HdrHistogram (hdr-histogram-js): values in µs, 3 significant digits, so a
 * percentile is exact to 0.1 % of its value whatever the number of runs; and per-cell totals.
 */
import { build, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import {
  METRICS,
  PHASES,
  RESOLVED_KEYS,
  emptyEvents,
  emptyJudgement,
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
  into.elsewhere += o.elsewhere ?? 0;
  into.other += o.other;
  for (const k of RESOLVED_KEYS) into.resolved[k] += o.resolved?.[k] ?? 0;
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
    requests: { ...emptyOutcomes(), ...emptyJudgement(runs.length > 0 && runs.every((r) => r.error !== null || r.requests.judged)), unsettled: 0, byPhase: { before: emptyOutcomes(), switching: emptyOutcomes(), after: emptyOutcomes() }, explanations: {} },
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
    t.requests.wrongOutcome += r.requests.wrongOutcome ?? 0;
    t.requests.inDoubtRouted += r.requests.inDoubtRouted ?? 0;
    t.requests.doubleRouted += r.requests.doubleRouted ?? 0;
    for (const w of r.requests.wrong ?? []) if (t.requests.wrong.length < FAILURES_CAP) t.requests.wrong.push(w);
    for (const p of PHASES) addOutcomes(t.requests.byPhase[p], r.requests.byPhase[p]);
    for (const [k, n] of Object.entries(r.requests.explanations)) t.requests.explanations[k] = (t.requests.explanations[k] ?? 0) + n;
  }
  if (!expectedKnown) t.events.expected = null;
  return t;
}

/** Failed requests listed per cell at most (the counts stay exact; `failuresDropped` says how many were left out). */
export const FAILURES_CAP = 1000;

/** A cell from its runs: distributions over the completed runs, totals over all. */
export function cellOf(key: string, mode: CellResult['mode'], transport: CellResult['transport'], fault: string, runs: RunResult[]): CellResult {
  const ok = runs.filter((r) => r.error === null);
  const summary: Partial<Record<MetricName, LatencySummary | null>> = {};
  for (const m of METRICS) summary[m] = summarize(ok.map((r) => r.metrics[m]));
  // Every failed request stays listed up to the cap; past it, later runs keep the unexplained and the
  // wrongly judged ones only (what must be read), and the rest is counted.
  let listed = 0;
  let failuresDropped = 0;
  for (const r of runs) {
    const keep = r.requests.failures.filter((f) => listed + 1 <= FAILURES_CAP || f.explanation === null || f.verdict !== undefined ? (listed++, true) : false);
    failuresDropped += r.requests.failures.length - keep.length;
    r.requests.failures = keep;
  }
  return { key, mode, transport, fault, summary, totals: totals(runs), runs, failuresDropped };
}

/** What a cell must show (bench/README.md): each check's name, whether it passed, and the figure. */
export interface CellVerdict {
  pass: boolean;
  /** Checks that failed, e.g. `lost 3` (must be 0). */
  failed: string[];
  /** Said, but not a failure: runs that did not complete, in-doubt errors for calls a request routed. */
  notes: string[];
}

export function verdictOf(c: CellResult): CellVerdict {
  const t = c.totals;
  const q = t.requests;
  const failed: string[] = [];
  const must0: [string, number][] = [
    ['lost', t.events.lost],
    ['duplicated', t.events.duplicated],
    ['unexpected events', t.events.unexpected],
    ['unsettled', q.unsettled],
    ['unexplained failures', q.unexplained],
    ['wrong outcomes', q.wrongOutcome ?? 0],
    ['routed twice', q.doubleRouted ?? 0],
  ];
  for (const [name, n] of must0) if (n > 0) failed.push(`${n} ${name}`);
  if (t.ok === 0) failed.push('no run completed');
  const notes: string[] = [];
  if (t.errors) notes.push(`${t.errors} of ${t.runs} runs did not complete`);
  if (q.inDoubtRouted) notes.push(`${q.inDoubtRouted} in doubt though routed`);
  if (!q.judged && q.sent > 0) notes.push('outcomes not judged (no oracle)');
  return { pass: failed.length === 0, failed, notes };
}

/**
 * Mann–Whitney U test of two samples (two-sided, normal approximation with tie correction and continuity
 * correction): does one tend to be larger than the other? `p` < 0.05 = a difference beyond run-to-run
 * noise. With fewer than 4 values on a side nothing can be told (`p` null).
 */
export function mannWhitney(a: readonly number[], b: readonly number[]): { u: number; z: number; p: number | null } {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 < 4 || n2 < 4) return { u: NaN, z: NaN, p: null };
  const all = [...a.map((v) => ({ v, s: 0 })), ...b.map((v) => ({ v, s: 1 }))].sort((x, y) => x.v - y.v);
  const ranks = new Array<number>(all.length);
  let tie = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[k] = r;
    const t = j - i + 1;
    tie += t * t * t - t;
    i = j + 1;
  }
  let r1 = 0;
  for (let i = 0; i < all.length; i++) if (all[i]!.s === 0) r1 += ranks[i]!;
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const n = n1 + n2;
  const mu = (n1 * n2) / 2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tie / (n * (n - 1))));
  if (sigma === 0) return { u: u1, z: 0, p: 1 };
  const z = (Math.abs(u1 - mu) - 0.5) / sigma;
  return { u: u1, z: Math.sign(u1 - mu) * Math.max(0, z), p: Math.min(1, 2 * (1 - normalCdf(Math.max(0, z)))) };
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 through erf; |error| < 1.5e-7). */
function normalCdf(x: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}

const median = (v: readonly number[]) => {
  const s = [...v].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Bootstrap 95 % interval of median(b) − median(a) (percentile method, 2000 resamples, seeded so a
 * report compares the same way twice); null with fewer than 4 values on a side.
 */
export function bootstrapMedianDiff(a: readonly number[], b: readonly number[], iterations = 2000): { diff: number; lo: number; hi: number } | null {
  if (a.length < 4 || b.length < 4) return null;
  let s = 0x9e3779b9;
  const rnd = () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const resample = (v: readonly number[]) => median(Array.from({ length: v.length }, () => v[Math.floor(rnd() * v.length)]!));
  const d: number[] = [];
  for (let i = 0; i < iterations; i++) d.push(resample(b) - resample(a));
  d.sort((x, y) => x - y);
  return { diff: median(b) - median(a), lo: d[Math.floor(0.025 * iterations)]!, hi: d[Math.ceil(0.975 * iterations) - 1]! };
}
