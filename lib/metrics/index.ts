/**
 * `tserver-ha/metrics`: Prometheus metrics of one or more pairs through prom-client (an optional peer
 * dependency: install it yourself; without it {@link collectMetrics} throws a MissingDependencyError,
 * `ERR_MISSING_DEPENDENCY`, saying so). Counters, gauges and histograms come from the pair's public events,
 * `pair.stats` / `pair.state` (read at scrape time), the `tserver-ha:attempt-failed` diagnostics channel
 * (every connection attempt, not the sampled events) and the `tserver-ha:request` TracingChannel (every
 * request's outcome and latency), and `nativeIoStats()` for the addon's memory.
 *
 * ```ts
 * import { Registry } from 'prom-client';
 * import { collectMetrics } from 'tserver-ha/metrics';
 * const registry = new Registry();
 * const stop = collectMetrics(pair, { registry });
 * // GET /metrics → await registry.metrics()
 * ```
 * @packageDocumentation
 */
import diagnostics from 'node:diagnostics_channel';
import { CHANNELS } from '../diagnostics.js';
import { createRequire } from 'node:module';
import type * as client from 'prom-client';
import type { TServerPair } from '../pair/pair.js';
import type { EndpointName } from '../endpoint/endpoint.js';
import { requestChannel, type RequestTraceContext } from '../pair/observe.js';
import { nativeIoStats } from '../native/native-transport.js';
import { monotonicMs } from '../clock.js';
import { ConfigError, MissingDependencyError } from '../errors.js';

export { MissingDependencyError } from '../errors.js';

type PromClient = typeof import('prom-client');
let promClient: PromClient | undefined;

/** prom-client, loaded on first use; a MissingDependencyError when it is not installed. */
function prom(): PromClient {
  if (promClient) return promClient;
  try {
    // require(), not a static import: importing tserver-ha/metrics without prom-client must not fail with
    // a bare ERR_MODULE_NOT_FOUND (prom-client is CommonJS: the same module an `import` of it gives).
    promClient = createRequire(import.meta.url)('prom-client') as PromClient;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'MODULE_NOT_FOUND' && /'prom-client'/.test(e.message ?? '')) throw new MissingDependencyError('prom-client', 'tserver-ha/metrics', err);
    throw err;
  }
  return promClient;
}

/** Options of {@link collectMetrics}. */
export interface MetricsOptions {
  /** Where the metrics are registered. Default: prom-client's global registry. */
  registry?: client.Registry;
  /** Prefix of every metric name. Default `tserver_ha_`. */
  prefix?: string;
  /** Buckets (seconds) of the request latency histogram. Default 1 ms … 5 s. */
  requestBuckets?: number[];
  /** Buckets (seconds) of the switchover histograms. Default 1 ms … 30 s. */
  switchoverBuckets?: number[];
}

/** The metric names {@link collectMetrics} registers, without the prefix (README, "Metrics"). */
export const METRIC_NAMES = [
  'events_delivered_total', 'events_duplicates_dropped_total', 'events_replayed_total', 'late_replies_total',
  'gaps_total', 'switchovers_total', 'switchover_recovery_seconds', 'switchover_overhead_seconds',
  'disconnects_total', 'connect_attempts_total', 'breaker_transitions_total', 'heartbeat_rtt_seconds',
  'requests_total', 'request_duration_seconds',
  'endpoint_up', 'endpoint_primary', 'endpoint_link_up', 'endpoint_breaker_open', 'endpoint_active', 'endpoint_pending_requests',
  'endpoint_transport', 'queued_requests',
  'native_queued_bytes', 'native_held_bytes', 'native_peak_bytes', 'native_memory_limit_bytes', 'native_connections',
] as const;

const ENDPOINTS: readonly EndpointName[] = ['primary', 'backup'];

type Labels = Record<string, string>;
type Series = { metric: client.Counter<string> | client.Histogram<string>; labels: Labels };

/**
 * One metric set: the metrics of one prefix on one registry, shared by every pair collected there. It
 * registers nothing it does not own, remembers every labelled series it wrote for each pair (so stopping
 * a pair removes its series and nothing else), and removes exactly its own metrics when closed.
 */
class MetricSet {
  readonly pairs = new Map<string, TServerPair>();
  /** Per pair name: the series written by events and channels (the collect()-based ones rebuild at scrape). */
  private readonly series = new Map<string, Map<string, Series>>();
  private readonly owned: client.Metric[] = [];
  private readonly unsubscribe: (() => void)[] = [];
  readonly switchovers: client.Counter<'pair' | 'reason'>;
  readonly recovery: client.Histogram<'pair' | 'reason'>;
  readonly overhead: client.Histogram<'pair'>;
  readonly gaps: client.Counter<'pair' | 'reason'>;
  readonly disconnects: client.Counter<'pair' | 'endpoint' | 'reason'>;
  readonly attempts: client.Counter<'pair' | 'endpoint' | 'outcome' | 'code'>;
  readonly breaker: client.Counter<'pair' | 'endpoint' | 'state'>;
  readonly heartbeat: client.Histogram<'pair' | 'endpoint'>;

  constructor(private readonly registry: client.Registry, p: string, requestBuckets: number[], switchoverBuckets: number[]) {
    const c = prom();
    // Refuse before registering anything: a name taken by someone else would make prom-client throw
    // halfway, leaving the metrics registered before it behind.
    const taken = METRIC_NAMES.filter((n) => registry.getSingleMetric(p + n) !== undefined);
    if (taken.length > 0) {
      throw new ConfigError(`tserver-ha/metrics: the registry already has metrics named ${taken.map((n) => p + n).join(', ')}; use another prefix`);
    }
    const registers = [registry];
    const own = <M extends client.Metric>(m: M): M => {
      this.owned.push(m);
      return m;
    };
    const pairs = this.pairs;
    const fromStats = (name: string, help: string, key: 'delivered' | 'duplicatesDropped' | 'replayed' | 'lateReplies') =>
      own(new c.Counter({
        name: p + name, help, labelNames: ['pair'], registers,
        collect() {
          this.reset();
          for (const [n, pair] of pairs) this.inc({ pair: n }, pair.stats[key]);
        },
      }));
    fromStats('events_delivered_total', 'Events delivered to the application (each exactly once).', 'delivered');
    fromStats('events_duplicates_dropped_total', 'Events dropped as the other server\'s copy of one already delivered.', 'duplicatesDropped');
    fromStats('events_replayed_total', 'Events delivered from a hot-standby window at a switchover.', 'replayed');
    fromStats('late_replies_total', 'Replies that arrived after their request had settled (dropped).', 'lateReplies');
    this.gaps = own(new c.Counter({ name: p + 'gaps_total', help: 'Reported gaps: ranges of events that may be lost.', labelNames: ['pair', 'reason'], registers }));
    this.switchovers = own(new c.Counter({ name: p + 'switchovers_total', help: 'Switchovers: requests moved to another server.', labelNames: ['pair', 'reason'], registers }));
    this.recovery = own(new c.Histogram({
      name: p + 'switchover_recovery_seconds', help: 'From the loss being detected to requests flowing again (switchover completedAt - detectedAt).',
      labelNames: ['pair', 'reason'], buckets: switchoverBuckets, registers,
    }));
    this.overhead = own(new c.Histogram({
      name: p + 'switchover_overhead_seconds', help: 'The client\'s own share of a switchover: from the report that decided it being read to requests sent (completedAt - announcedAt).',
      labelNames: ['pair'], buckets: switchoverBuckets, registers,
    }));
    this.disconnects = own(new c.Counter({ name: p + 'disconnects_total', help: 'Sessions that ended, by reason (addp-timeout: a missed heartbeat).', labelNames: ['pair', 'endpoint', 'reason'], registers }));
    this.attempts = own(new c.Counter({
      name: p + 'connect_attempts_total',
      help: 'Connection attempts: outcome opened, or failed with the error code in label code (every attempt, not sampled; opened attempts have no code label).',
      labelNames: ['pair', 'endpoint', 'outcome', 'code'], registers,
    }));
    this.breaker = own(new c.Counter({ name: p + 'breaker_transitions_total', help: 'Circuit breaker state changes.', labelNames: ['pair', 'endpoint', 'state'], registers }));
    this.heartbeat = own(new c.Histogram({
      name: p + 'heartbeat_rtt_seconds', help: 'ADDP poll round trips (sampled: at most one a second per connection, on silent connections).',
      labelNames: ['pair', 'endpoint'], buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers,
    }));
    const requests = own(new c.Counter({ name: p + 'requests_total', help: 'Requests by outcome: ok, or the error code they rejected with.', labelNames: ['pair', 'request', 'outcome'], registers }));
    const latency = own(new c.Histogram({
      name: p + 'request_duration_seconds', help: 'From request() to its settlement, by outcome.', labelNames: ['pair', 'request', 'outcome'], buckets: requestBuckets, registers,
    }));

    const perEndpoint = (name: string, help: string, value: (pair: TServerPair, ep: EndpointName) => number) =>
      own(new c.Gauge({
        name: p + name, help, labelNames: ['pair', 'endpoint'], registers,
        collect() {
          this.reset();
          for (const [n, pair] of pairs) for (const ep of ENDPOINTS) this.set({ pair: n, endpoint: ep }, value(pair, ep));
        },
      }));
    perEndpoint('endpoint_up', '1 while the session with this server is open.', (pair, ep) => Number(pair.state.endpoints[ep].server === 'open'));
    perEndpoint('endpoint_primary', '1 while this server says it is primary.', (pair, ep) => Number(pair.state.endpoints[ep].role === 'primary'));
    perEndpoint('endpoint_link_up', '1 while this server reports its CTI link up.', (pair, ep) => Number(pair.state.endpoints[ep].link === 'up'));
    perEndpoint('endpoint_breaker_open', '1 while this endpoint\'s circuit breaker is open (0.5 half-open).', (pair, ep) => {
      const b = pair.state.endpoints[ep].breaker;
      return b === 'open' ? 1 : b === 'half-open' ? 0.5 : 0;
    });
    perEndpoint('endpoint_active', '1 for the endpoint requests go to.', (pair, ep) => Number(pair.state.active === ep));
    perEndpoint('endpoint_pending_requests', 'Requests sent to this server and not yet answered.', (pair, ep) => pair.state.endpoints[ep].pendingRequests);
    own(new c.Gauge({
      name: p + 'endpoint_transport', help: 'The transport of each endpoint\'s connection (label transport: native, node, custom), always 1.',
      labelNames: ['pair', 'endpoint', 'transport'], registers,
      collect() {
        this.reset();
        for (const [n, pair] of pairs) for (const ep of ENDPOINTS) this.set({ pair: n, endpoint: ep, transport: nonEmpty(pair.state.endpoints[ep].transport, 'custom') }, 1);
      },
    }));
    own(new c.Gauge({
      name: p + 'queued_requests', help: 'Requests waiting for a usable primary.', labelNames: ['pair'], registers,
      collect() {
        this.reset();
        for (const [n, pair] of pairs) this.set({ pair: n }, pair.state.queuedRequests);
      },
    }));
    const native = (name: string, help: string, key: 'queuedBytes' | 'heldBytes' | 'peakBytes' | 'memoryLimit' | 'conns') =>
      own(new c.Gauge({
        name: p + name, help, registers,
        collect() {
          this.set(nativeIoStats()[key]);
        },
      }));
    native('native_queued_bytes', 'Bytes the native I/O thread read and framed, not yet taken by JS (whole process).', 'queuedBytes');
    native('native_held_bytes', 'Bytes held in native hot-standby windows (whole process).', 'heldBytes');
    native('native_peak_bytes', 'High-water mark of queued + held bytes since the memory limit was last set.', 'peakBytes');
    native('native_memory_limit_bytes', 'The native memory budget (setNativeMemoryLimit).', 'memoryLimit');
    native('native_connections', 'Live connections of the native I/O thread.', 'conns');

    // Every attempt (the public connectFailed event is sampled).
    const onAttempt = (m: unknown) => {
      const { pair, endpoint, error } = m as { pair: string; endpoint: string; error: { code?: string } };
      if (pairs.has(pair)) this.inc(this.attempts, { pair, endpoint, outcome: 'failed', code: nonEmpty(error?.code, 'unknown') });
    };
    diagnostics.subscribe(CHANNELS.attemptFailed, onAttempt);
    this.unsubscribe.push(() => diagnostics.unsubscribe(CHANNELS.attemptFailed, onAttempt));

    const started = new WeakMap<object, number>();
    const handlers = {
      start: (ctx: RequestTraceContext) => {
        if (pairs.has(ctx.pair)) started.set(ctx, monotonicMs());
      },
      asyncEnd: (ctx: RequestTraceContext) => {
        const t0 = started.get(ctx);
        if (t0 === undefined || !pairs.has(ctx.pair)) return;
        const err = ctx.error as { code?: string } | undefined;
        const labels = { pair: ctx.pair, request: nonEmpty(ctx.request, 'unknown'), outcome: err ? nonEmpty(err.code, 'error') : 'ok' };
        this.inc(requests, labels);
        this.observe(latency, labels, (monotonicMs() - t0) / 1000);
      },
      end: () => {},
      asyncStart: () => {},
      error: () => {},
    };
    requestChannel.subscribe(handlers);
    this.unsubscribe.push(() => requestChannel.unsubscribe(handlers));
  }

  private remember(metric: Series['metric'], labels: Labels): void {
    let mine = this.series.get(labels.pair!);
    if (!mine) this.series.set(labels.pair!, (mine = new Map()));
    const key = `${(metric as unknown as { name: string }).name}\u0000${JSON.stringify(labels)}`;
    if (!mine.has(key)) mine.set(key, { metric, labels });
  }

  /** Count one for a labelled series of a collected pair (`labels.pair`), remembering the series. */
  inc<L extends string>(metric: client.Counter<L>, labels: Record<L, string> & { pair: string }): void {
    if (!this.pairs.has(labels.pair)) return;
    metric.inc(labels as client.LabelValues<L>);
    this.remember(metric as unknown as Series['metric'], labels);
  }

  /** Observe a value for a labelled series of a collected pair, remembering the series. */
  observe<L extends string>(metric: client.Histogram<L>, labels: Record<L, string> & { pair: string }, value: number): void {
    if (!this.pairs.has(labels.pair)) return;
    metric.observe(labels as client.LabelValues<L>, value);
    this.remember(metric as unknown as Series['metric'], labels);
  }

  /** Stop collecting `name`: its event-driven series leave the registry; the scrape-time ones stop at the next scrape. */
  removePair(name: string): void {
    this.pairs.delete(name);
    for (const { metric, labels } of this.series.get(name)?.values() ?? []) metric.remove(labels);
    this.series.delete(name);
  }

  /** Unsubscribe and remove exactly the metrics this set registered (a metric since replaced by someone else stays). */
  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    for (const m of this.owned.splice(0)) {
      const name = (m as unknown as { name: string }).name;
      if (this.registry.getSingleMetric(name) === m) this.registry.removeSingleMetric(name);
    }
  }
}

/** A label value that is never empty (Prometheus treats an empty value as no label). */
function nonEmpty(v: string | null | undefined, fallback: string): string {
  return typeof v === 'string' && v.length > 0 ? v : fallback;
}

/** The metric sets of each registry, by prefix. */
const perRegistry = new WeakMap<client.Registry, Map<string, MetricSet>>();

/**
 * The pair each collected name stands for, process-wide: the attempt and request channels name a pair only
 * by its name, so two different pairs of one name would mix in every metric set that collects either.
 */
const namedPairs = new Map<string, { pair: TServerPair; collections: number }>();

/**
 * Register prom-client metrics for `pair` (names in {@link METRIC_NAMES}, each with a `pair` label from
 * the pair's name). Several pairs share one set of metrics per registry and prefix; each prefix on a
 * registry is a separate set, counting only the pairs collected with it. Returns a function that stops
 * collecting for this pair: its listeners and its labelled series are removed, and when the last pair of
 * a set stops, the set's metrics are removed from the registry (only those: nothing else registered there).
 * @throws MissingDependencyError (`ERR_MISSING_DEPENDENCY`) when prom-client is not installed.
 * @throws ConfigError when this pair's name is already collected with this registry and prefix, when a
 * different pair of the same name is being collected anywhere in the process, or when the registry already
 * has a metric of one of these names.
 */
export function collectMetrics(pair: TServerPair, options: MetricsOptions = {}): () => void {
  const c = prom();
  const registry = options.registry ?? c.register;
  const prefix = options.prefix ?? 'tserver_ha_';
  const name = pair.options.name;
  const named = namedPairs.get(name);
  if (named && named.pair !== pair) {
    throw new ConfigError(`tserver-ha/metrics: another pair named ${name} is already collected; pair names must be unique among the pairs whose metrics are collected`);
  }
  let sets = perRegistry.get(registry);
  if (sets?.get(prefix)?.pairs.has(name)) throw new ConfigError(`tserver-ha/metrics: a pair named ${name} is already collected on this registry with prefix ${prefix}`);
  if (!sets) perRegistry.set(registry, (sets = new Map()));
  let m = sets.get(prefix);
  if (!m) {
    m = new MetricSet(
      registry,
      prefix,
      options.requestBuckets ?? [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      options.switchoverBuckets ?? [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    );
    sets.set(prefix, m);
  }
  m.pairs.set(name, pair);
  if (named) named.collections++;
  else namedPairs.set(name, { pair, collections: 1 });
  const metrics = m;
  const listeners: [string, (e: never) => void][] = [
    ['switchover', (e: { reason: string; detectedAt: number; announcedAt: number; completedAt: number }) => {
      metrics.inc(metrics.switchovers, { pair: name, reason: e.reason });
      metrics.observe(metrics.recovery, { pair: name, reason: e.reason }, Math.max(0, e.completedAt - e.detectedAt) / 1000);
      metrics.observe(metrics.overhead, { pair: name }, Math.max(0, e.completedAt - e.announcedAt) / 1000);
    }],
    ['gap', (e: { reason: string }) => metrics.inc(metrics.gaps, { pair: name, reason: e.reason })],
    ['EventServerDisconnected', (e: { source: string; reason: string }) => metrics.inc(metrics.disconnects, { pair: name, endpoint: e.source, reason: e.reason })],
    // No `code` label on an opened attempt (an empty label value is no label to Prometheus anyway).
    ['EventServerConnected', (e: { source: string }) => metrics.inc(metrics.attempts as client.Counter<'pair' | 'endpoint' | 'outcome'>, { pair: name, endpoint: e.source, outcome: 'opened' })],
    ['breaker', (e: { source: string; state: string }) => metrics.inc(metrics.breaker, { pair: name, endpoint: e.source, state: e.state })],
    ['heartbeat', (e: { source: string; rttMs: number }) => metrics.observe(metrics.heartbeat, { pair: name, endpoint: e.source }, e.rttMs / 1000)],
  ];
  const on = pair.on.bind(pair) as unknown as (n: string, l: (e: never) => void) => void;
  const off = pair.off.bind(pair) as unknown as (n: string, l: (e: never) => void) => void;
  for (const [n, l] of listeners) on(n, l);
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    for (const [n, l] of listeners) off(n, l);
    metrics.removePair(name);
    const entry = namedPairs.get(name);
    if (entry && --entry.collections === 0) namedPairs.delete(name);
    if (metrics.pairs.size === 0) {
      metrics.close();
      sets.delete(prefix);
    }
  };
}
