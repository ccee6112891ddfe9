/**
 * `tserver-ha/metrics`: Prometheus metrics of one or more pairs through prom-client (an optional peer
 * dependency: install it yourself). Counters, gauges and histograms come from the pair's public events,
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
import * as client from 'prom-client';
import type { TServerPair } from '../pair/pair.js';
import type { EndpointName } from '../endpoint/endpoint.js';
import { requestChannel, type RequestTraceContext } from '../pair/observe.js';
import { nativeIoStats } from '../native/native-transport.js';
import { monotonicMs } from '../clock.js';

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

/** One registry's metrics, shared by every pair registered on it. */
class RegistryMetrics {
  readonly pairs = new Map<string, TServerPair>();
  private readonly unsubscribe: (() => void)[] = [];
  readonly switchovers: client.Counter<'pair' | 'reason'>;
  readonly recovery: client.Histogram<'pair' | 'reason'>;
  readonly overhead: client.Histogram<'pair'>;
  readonly gaps: client.Counter<'pair' | 'reason'>;
  readonly disconnects: client.Counter<'pair' | 'endpoint' | 'reason'>;
  readonly attempts: client.Counter<'pair' | 'endpoint' | 'outcome' | 'code'>;
  readonly breaker: client.Counter<'pair' | 'endpoint' | 'state'>;
  readonly heartbeat: client.Histogram<'pair' | 'endpoint'>;

  constructor(registry: client.Registry, p: string, requestBuckets: number[], switchoverBuckets: number[]) {
    const registers = [registry];
    const pairs = this.pairs;
    const fromStats = (name: string, help: string, key: 'delivered' | 'duplicatesDropped' | 'replayed' | 'lateReplies') =>
      new client.Counter({
        name: p + name, help, labelNames: ['pair'], registers,
        collect() {
          this.reset();
          for (const [n, pair] of pairs) this.inc({ pair: n }, pair.stats[key]);
        },
      });
    fromStats('events_delivered_total', 'Events delivered to the application (each exactly once).', 'delivered');
    fromStats('events_duplicates_dropped_total', 'Events dropped as the other server\'s copy of one already delivered.', 'duplicatesDropped');
    fromStats('events_replayed_total', 'Events delivered from a hot-standby window at a switchover.', 'replayed');
    fromStats('late_replies_total', 'Replies that arrived after their request had settled (dropped).', 'lateReplies');
    this.gaps = new client.Counter({ name: p + 'gaps_total', help: 'Reported gaps: ranges of events that may be lost.', labelNames: ['pair', 'reason'], registers });
    this.switchovers = new client.Counter({ name: p + 'switchovers_total', help: 'Switchovers: requests moved to another server.', labelNames: ['pair', 'reason'], registers });
    this.recovery = new client.Histogram({
      name: p + 'switchover_recovery_seconds', help: 'From the loss being detected to requests flowing again (switchover completedAt - detectedAt).',
      labelNames: ['pair', 'reason'], buckets: switchoverBuckets, registers,
    });
    this.overhead = new client.Histogram({
      name: p + 'switchover_overhead_seconds', help: 'The client\'s own share of a switchover: from the new primary\'s report being read to requests sent (completedAt - announcedAt).',
      labelNames: ['pair'], buckets: switchoverBuckets, registers,
    });
    this.disconnects = new client.Counter({ name: p + 'disconnects_total', help: 'Sessions that ended, by reason (addp-timeout: a missed heartbeat).', labelNames: ['pair', 'endpoint', 'reason'], registers });
    this.attempts = new client.Counter({
      name: p + 'connect_attempts_total', help: 'Connection attempts: outcome opened, or failed with its error code (every attempt, not sampled).',
      labelNames: ['pair', 'endpoint', 'outcome', 'code'], registers,
    });
    this.breaker = new client.Counter({ name: p + 'breaker_transitions_total', help: 'Circuit breaker state changes.', labelNames: ['pair', 'endpoint', 'state'], registers });
    this.heartbeat = new client.Histogram({
      name: p + 'heartbeat_rtt_seconds', help: 'ADDP poll round trips (sampled: at most one a second per connection, on silent connections).',
      labelNames: ['pair', 'endpoint'], buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers,
    });
    const requests = new client.Counter({ name: p + 'requests_total', help: 'Requests by outcome: ok, or the error code they rejected with.', labelNames: ['pair', 'request', 'outcome'], registers });
    const latency = new client.Histogram({
      name: p + 'request_duration_seconds', help: 'From request() to its settlement, by outcome.', labelNames: ['pair', 'request', 'outcome'], buckets: requestBuckets, registers,
    });

    const perEndpoint = (name: string, help: string, value: (pair: TServerPair, ep: EndpointName) => number) =>
      new client.Gauge({
        name: p + name, help, labelNames: ['pair', 'endpoint'], registers,
        collect() {
          this.reset();
          for (const [n, pair] of pairs) for (const ep of ENDPOINTS) this.set({ pair: n, endpoint: ep }, value(pair, ep));
        },
      });
    perEndpoint('endpoint_up', '1 while the session with this server is open.', (pair, ep) => Number(pair.state.endpoints[ep].server === 'open'));
    perEndpoint('endpoint_primary', '1 while this server says it is primary.', (pair, ep) => Number(pair.state.endpoints[ep].role === 'primary'));
    perEndpoint('endpoint_link_up', '1 while this server reports its CTI link up.', (pair, ep) => Number(pair.state.endpoints[ep].link === 'up'));
    perEndpoint('endpoint_breaker_open', '1 while this endpoint\'s circuit breaker is open (0.5 half-open).', (pair, ep) => {
      const b = pair.state.endpoints[ep].breaker;
      return b === 'open' ? 1 : b === 'half-open' ? 0.5 : 0;
    });
    perEndpoint('endpoint_active', '1 for the endpoint requests go to.', (pair, ep) => Number(pair.state.active === ep));
    perEndpoint('endpoint_pending_requests', 'Requests sent to this server and not yet answered.', (pair, ep) => pair.state.endpoints[ep].pendingRequests);
    new client.Gauge({
      name: p + 'endpoint_transport', help: 'The transport of each endpoint\'s connection (label transport: native, node, …), always 1.',
      labelNames: ['pair', 'endpoint', 'transport'], registers,
      collect() {
        this.reset();
        for (const [n, pair] of pairs) for (const ep of ENDPOINTS) this.set({ pair: n, endpoint: ep, transport: pair.state.endpoints[ep].transport ?? 'custom' }, 1);
      },
    });
    new client.Gauge({
      name: p + 'queued_requests', help: 'Requests waiting for a usable primary.', labelNames: ['pair'], registers,
      collect() {
        this.reset();
        for (const [n, pair] of pairs) this.set({ pair: n }, pair.state.queuedRequests);
      },
    });
    const native = (name: string, help: string, key: 'queuedBytes' | 'heldBytes' | 'peakBytes' | 'memoryLimit' | 'conns') =>
      new client.Gauge({
        name: p + name, help, registers,
        collect() {
          this.set(nativeIoStats()[key]);
        },
      });
    native('native_queued_bytes', 'Bytes the native I/O thread read and framed, not yet taken by JS (whole process).', 'queuedBytes');
    native('native_held_bytes', 'Bytes held in native hot-standby windows (whole process).', 'heldBytes');
    native('native_peak_bytes', 'High-water mark of queued + held bytes since the memory limit was last set.', 'peakBytes');
    native('native_memory_limit_bytes', 'The native memory budget (setNativeMemoryLimit).', 'memoryLimit');
    native('native_connections', 'Live connections of the native I/O thread.', 'conns');

    // Every attempt (the public connectFailed event is sampled).
    const onAttempt = (m: unknown) => {
      const { pair, endpoint, error } = m as { pair: string; endpoint: string; error: { code?: string } };
      if (pairs.has(pair)) this.attempts.inc({ pair, endpoint, outcome: 'failed', code: error?.code ?? 'unknown' });
    };
    diagnostics.subscribe('tserver-ha:attempt-failed', onAttempt);
    this.unsubscribe.push(() => diagnostics.unsubscribe('tserver-ha:attempt-failed', onAttempt));

    const started = new WeakMap<object, number>();
    const handlers = {
      start: (ctx: RequestTraceContext) => {
        if (pairs.has(ctx.pair)) started.set(ctx, monotonicMs());
      },
      asyncEnd: (ctx: RequestTraceContext) => {
        const t0 = started.get(ctx);
        if (t0 === undefined) return;
        const err = ctx.error as { code?: string } | undefined;
        const labels = { pair: ctx.pair, request: ctx.request, outcome: err ? (err.code ?? 'error') : 'ok' };
        requests.inc(labels);
        latency.observe(labels, (monotonicMs() - t0) / 1000);
      },
      end: () => {},
      asyncStart: () => {},
      error: () => {},
    };
    requestChannel.subscribe(handlers);
    this.unsubscribe.push(() => requestChannel.unsubscribe(handlers));
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }
}

const perRegistry = new WeakMap<client.Registry, RegistryMetrics>();

/**
 * Register prom-client metrics for `pair` (names in {@link METRIC_NAMES}, each with a `pair` label from
 * the pair's name; several pairs share one set of metrics per registry). Returns a function that stops
 * collecting for this pair (its listeners are removed); when the last pair of a registry stops, the
 * metrics are removed from that registry.
 * @throws Error when another pair with the same name is already collected on this registry.
 */
export function collectMetrics(pair: TServerPair, options: MetricsOptions = {}): () => void {
  const registry = options.registry ?? client.register;
  let m = perRegistry.get(registry);
  if (!m) {
    m = new RegistryMetrics(
      registry,
      options.prefix ?? 'tserver_ha_',
      options.requestBuckets ?? [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      options.switchoverBuckets ?? [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    );
    perRegistry.set(registry, m);
  }
  const name = pair.options.name;
  if (m.pairs.has(name)) throw new Error(`tserver-ha/metrics: a pair named ${name} is already collected on this registry`);
  m.pairs.set(name, pair);
  const metrics = m;
  const listeners: [string, (e: never) => void][] = [
    ['switchover', (e: { reason: string; detectedAt: number; announcedAt: number; completedAt: number }) => {
      metrics.switchovers.inc({ pair: name, reason: e.reason });
      metrics.recovery.observe({ pair: name, reason: e.reason }, Math.max(0, e.completedAt - e.detectedAt) / 1000);
      metrics.overhead.observe({ pair: name }, Math.max(0, e.completedAt - e.announcedAt) / 1000);
    }],
    ['gap', (e: { reason: string }) => metrics.gaps.inc({ pair: name, reason: e.reason })],
    ['EventServerDisconnected', (e: { source: string; reason: string }) => metrics.disconnects.inc({ pair: name, endpoint: e.source, reason: e.reason })],
    ['EventServerConnected', (e: { source: string }) => metrics.attempts.inc({ pair: name, endpoint: e.source, outcome: 'opened', code: '' })],
    ['breaker', (e: { source: string; state: string }) => metrics.breaker.inc({ pair: name, endpoint: e.source, state: e.state })],
    ['heartbeat', (e: { source: string; rttMs: number }) => metrics.heartbeat.observe({ pair: name, endpoint: e.source }, e.rttMs / 1000)],
  ];
  const on = pair.on.bind(pair) as unknown as (n: string, l: (e: never) => void) => void;
  const off = pair.off.bind(pair) as unknown as (n: string, l: (e: never) => void) => void;
  for (const [n, l] of listeners) on(n, l);
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    for (const [n, l] of listeners) off(n, l);
    metrics.pairs.delete(name);
    if (metrics.pairs.size === 0) {
      metrics.close();
      perRegistry.delete(registry);
      for (const n of METRIC_NAMES) registry.removeSingleMetric((options.prefix ?? 'tserver_ha_') + n);
    }
  };
}
