/**
 * What `tserver-ha bench` measures and writes (its JSON is this shape; docs in bench/README.md).
 */

export type Mode = 'hot' | 'warm';
export type TransportName = 'native' | 'node';
/** Faults the bench injects at the primary of the simulator. */
export type SimFault = 'kill' | 'stop' | 'link-down' | 'switchover';
export const SIM_FAULTS: readonly SimFault[] = ['kill', 'stop', 'link-down', 'switchover'];
/** When a request was made: before the fault, from the fault until requests flow again, after. */
export type Phase = 'before' | 'switching' | 'after';
export const PHASES: readonly Phase[] = ['before', 'switching', 'after'];

/** The latencies of one run (ms; null when the moment was not observed). */
export interface RunMetrics {
  /** Fault → the pair knew the old primary was unusable (its switchover's `detectedAt`, else the first loss/link report). */
  detectMs: number | null;
  /** Fault → the first event from the other server handed to the application (link-down, warm: from the same server after its link is back). */
  firstEventMs: number | null;
  /** Fault → the management role's promotion, as seen by the bench (simulator only). */
  promotionMs: number | null;
  /** Promotion → requests flow again (`active` on the new primary). Simulator only (a lab's promotion is not visible). */
  readyMs: number | null;
  /** Fault → requests flow again (`active` on the server that now takes them). */
  recoverMs: number | null;
  /** The client's own part: hot, the new primary's report read → `switchover` emitted; warm, connect start → `active`. */
  overheadMs: number | null;
}

export const METRICS = ['detectMs', 'firstEventMs', 'promotionMs', 'readyMs', 'recoverMs', 'overheadMs'] as const;
export type MetricName = (typeof METRICS)[number];
export const METRIC_LABEL: Record<MetricName, string> = {
  detectMs: 'detect',
  firstEventMs: 'first event',
  promotionMs: 'promotion',
  readyMs: 'ready after promotion',
  recoverMs: 'recover',
  overheadMs: 'client overhead',
};

/** Request outcomes by class. */
export interface Outcomes {
  sent: number;
  ok: number;
  /** SwitchoverError: sent to a primary that failed before answering (not idempotent: not re-sent). */
  switchover: number;
  timeout: number;
  /** ServerError: the server answered EventError (detail has the ErrorCode). */
  server: number;
  other: number;
  /** Failures not explained by a documented rule (must be 0; see explanations). */
  unexplained: number;
  /** `server:<ErrorCode>`, `other:<code>` → count. */
  detail: Record<string, number>;
}

/** Events delivered against what was expected (the simulator's oracle, or a lab pair's sequence numbers). */
export interface EventCounts {
  /** Simulator: events the oracle has for the pair's DNs in the run; lab: null. */
  expected: number | null;
  received: number;
  /** Expected and never delivered, outside every reported gap (a defect when > 0). Lab: holes in a numbering outside gaps (see bench/README.md). */
  lost: number;
  /** Never delivered, inside a reported gap (warm standby's outage, by design). */
  lostInGap: number;
  /** Delivered more than once (per numbering epoch). */
  duplicated: number;
  /** Delivered but not in the oracle for these DNs (simulator; must be 0). */
  unexpected: number;
  /** Sequence numbers covered by the reported gaps. */
  gapSeqs: number;
}

export interface TimelineMark {
  /** ms since the fault (negative: before it). */
  t: number;
  what: string;
}

/** One failed request, kept for the report (the first few of each run). */
export interface FailedRequest {
  connId: string;
  phase: Phase;
  error: string;
  explanation: string | null;
}

/** Everything measured in one run. */
export interface RunResult {
  cell: string;
  run: number;
  /** Why the run did not complete (it is left out of the latencies), or null. */
  error: string | null;
  metrics: RunMetrics;
  /** Context: application lag behind the switch at the fault, fault → the killed process seen gone, warm reconnect split. */
  extra: Record<string, number | null>;
  events: EventCounts;
  requests: Outcomes & { unsettled: number; byPhase: Record<Phase, Outcomes>; explanations: Record<string, number>; failures: FailedRequest[] };
  switchover: { from: string | null; to: string; reason: string; replayed: number } | null;
  gaps: { epoch: string; fromSeq: number; toSeq: number }[];
  timeline: TimelineMark[];
}

/** A latency distribution (HdrHistogram, µs resolution, 3 significant digits), in ms. */
export interface LatencySummary {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  /** Values below 0 recorded as 0 (clock skew between processes; see bench/README.md). */
  clampedNegative: number;
  /** [ms, percentile] points of the cumulative distribution. */
  cdf: [number, number][];
  /** The histogram, HdrHistogram compressed base64 (for merging and tools). */
  hdr: string;
}

export interface CellTotals {
  runs: number;
  ok: number;
  errors: number;
  events: EventCounts;
  requests: Outcomes & { unsettled: number; byPhase: Record<Phase, Outcomes>; explanations: Record<string, number> };
}

export interface CellResult {
  key: string;
  mode: Mode;
  transport: TransportName;
  fault: string;
  summary: Partial<Record<MetricName, LatencySummary | null>>;
  totals: CellTotals;
  runs: RunResult[];
}

export interface BenchReport {
  tool: 'tserver-ha bench';
  version: string;
  node: string;
  host: { cpus: number; loadavg: number[] };
  target: 'simulator' | 'lab';
  startedAt: string;
  durationMs: number;
  /** Stopped by Ctrl-C: the cells hold what was measured until then. */
  interrupted: boolean;
  command: string[];
  config: Record<string, unknown>;
  cells: CellResult[];
}

export const emptyOutcomes = (): Outcomes => ({ sent: 0, ok: 0, switchover: 0, timeout: 0, server: 0, other: 0, unexplained: 0, detail: {} });

export const emptyEvents = (): EventCounts => ({ expected: 0, received: 0, lost: 0, lostInGap: 0, duplicated: 0, unexpected: 0, gapSeqs: 0 });

/** A run with nothing measured yet (`expected: null`: a lab pair has no oracle to count against). */
export const blankRun = (cell: string, run: number, expected: number | null = 0): RunResult => ({
  cell,
  run,
  error: null,
  metrics: { detectMs: null, firstEventMs: null, promotionMs: null, readyMs: null, recoverMs: null, overheadMs: null },
  extra: {},
  events: { ...emptyEvents(), expected },
  requests: { ...emptyOutcomes(), unsettled: 0, byPhase: { before: emptyOutcomes(), switching: emptyOutcomes(), after: emptyOutcomes() }, explanations: {}, failures: [] },
  switchover: null,
  gaps: [],
  timeline: [],
});
