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
  /** The client's own part: hot, the report that decided the switchover read (`announcedAt`) → `switchover` emitted; warm, connect start → `active`. */
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

/**
 * How resolved requests settled (the reply's `outcome`, docs/semantics.md "Requests across a failover"):
 * routed first time, routed by the repeat after a failover, or found done by the earlier attempt — told by
 * the switch's refusal of the repeat (1202) or by the event stream (the call rang our destination; 1201).
 */
export interface Resolved {
  answered: number;
  'answered-on-repeat': number;
  'done-earlier-1202': number;
  'done-earlier-stream': number;
}
export const RESOLVED_KEYS = ['answered', 'answered-on-repeat', 'done-earlier-1202', 'done-earlier-stream'] as const;
export const emptyResolved = (): Resolved => ({ answered: 0, 'answered-on-repeat': 0, 'done-earlier-1202': 0, 'done-earlier-stream': 0 });

/** Request outcomes by class. */
export interface Outcomes {
  sent: number;
  /** Resolved (any outcome in `resolved`). */
  ok: number;
  resolved: Resolved;
  /** SwitchoverError: in doubt after a failover, and the repeat's answer (or its absence) proved nothing. */
  switchover: number;
  timeout: number;
  /** ServerError: the server answered EventError (detail has the ErrorCode). */
  server: number;
  /** CallElsewhereError: the call rang another DN: not routed by this request. */
  elsewhere: number;
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

/** One failed request, kept for the report (every one; see CellResult.failuresDropped). */
export interface FailedRequest {
  connId: string;
  phase: Phase;
  /** `switchover`, `timeout`, `server:<code>`, `elsewhere`, `other:<code>`. */
  kind: string;
  /** When the request was made: ms after the fault (negative: before it); null before any fault. */
  atMs?: number | null;
  error: string;
  explanation: string | null;
  /** What the switch's oracle says of the call: `request/A` (routed by a request through A), `timeout`, `overflow`, `none`; lab: undefined. */
  oracle?: string;
  /** Judged against the oracle: `wrong` (a false answer), `in-doubt-routed` (an in-doubt error for a call a request did route), or undefined. */
  verdict?: 'wrong' | 'in-doubt-routed';
}

/** A request whose outcome contradicts the switch's oracle, or a call the switch routed twice. */
export interface WrongOutcome {
  connId: string;
  phase: Phase;
  outcome: string;
  oracle: string;
  why: string;
}

/**
 * Route outcomes judged against the switch's oracle (simulator only; a lab pair has none):
 * - `wrongOutcome`: resolved while the call was not routed by a request, or failed (but for an in-doubt
 *   error) while it was: must be 0;
 * - `inDoubtRouted`: SwitchoverError, or RequestTimeoutError of a request that had been sent, for a call a
 *   request did route: the truth was unknown to the client, not a false answer (listed, not "wrong");
 * - `doubleRouted`: calls with more than one route line in the oracle: must be 0.
 */
export interface Judgement {
  judged: boolean;
  wrongOutcome: number;
  inDoubtRouted: number;
  doubleRouted: number;
  /** Every wrong outcome and double route (capped at 1000 per cell). */
  wrong: WrongOutcome[];
}
export const emptyJudgement = (judged: boolean): Judgement => ({ judged, wrongOutcome: 0, inDoubtRouted: 0, doubleRouted: 0, wrong: [] });

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
  requests: Outcomes & Judgement & { unsettled: number; byPhase: Record<Phase, Outcomes>; explanations: Record<string, number>; failures: FailedRequest[] };
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
  requests: Outcomes & Judgement & { unsettled: number; byPhase: Record<Phase, Outcomes>; explanations: Record<string, number> };
}

export interface CellResult {
  key: string;
  mode: Mode;
  transport: TransportName;
  fault: string;
  summary: Partial<Record<MetricName, LatencySummary | null>>;
  totals: CellTotals;
  runs: RunResult[];
  /** Failed requests left out of the runs' `failures` lists past 1000 per cell (counts stay exact). */
  failuresDropped: number;
}

export interface BenchReport {
  tool: 'tserver-ha bench';
  version: string;
  node: string;
  /** The machine: load average (1, 5, 15 min) at the start and at the end of the bench. */
  host: { cpus: number; loadavg: number[]; loadavgAtStart?: number[] };
  target: 'simulator' | 'lab';
  startedAt: string;
  durationMs: number;
  /** Stopped by Ctrl-C: the cells hold what was measured until then. */
  interrupted: boolean;
  command: string[];
  config: Record<string, unknown>;
  cells: CellResult[];
}

export const emptyOutcomes = (): Outcomes => ({ sent: 0, ok: 0, resolved: emptyResolved(), switchover: 0, timeout: 0, server: 0, elsewhere: 0, other: 0, unexplained: 0, detail: {} });

export const emptyEvents = (): EventCounts => ({ expected: 0, received: 0, lost: 0, lostInGap: 0, duplicated: 0, unexpected: 0, gapSeqs: 0 });

/** A run with nothing measured yet (`expected: null`: a lab pair has no oracle to count against). */
export const blankRun = (cell: string, run: number, expected: number | null = 0): RunResult => ({
  cell,
  run,
  error: null,
  metrics: { detectMs: null, firstEventMs: null, promotionMs: null, readyMs: null, recoverMs: null, overheadMs: null },
  extra: {},
  events: { ...emptyEvents(), expected },
  requests: { ...emptyOutcomes(), ...emptyJudgement(expected !== null), unsettled: 0, byPhase: { before: emptyOutcomes(), switching: emptyOutcomes(), after: emptyOutcomes() }, explanations: {}, failures: [] },
  switchover: null,
  gaps: [],
  timeline: [],
});
